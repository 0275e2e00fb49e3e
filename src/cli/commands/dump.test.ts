import { execFileSync } from "node:child_process";
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  testContext,
  type TestContext,
} from "../../../test/helpers/command-context.js";
import { seededBytes } from "../../../test/helpers/prng.js";
import {
  describeTree,
  directoryDifferences,
  treeDifferences,
} from "../../../test/helpers/trees.js";
import { makeFifoSync } from "../../util/make-fifo.js";
import { runBackup } from "./backup.js";
import { runDump } from "./dump.js";
import { runInit } from "./init.js";

let context: TestContext;
let dir: string;
let cleanup = (): void => undefined;
let repository: string;
let source: string;

const LONG_NAME = `${"n".repeat(140)}.txt`;
const LONG_TARGET = `${"../".repeat(20)}${"t".repeat(60)}`;
const NOT_UTF8 = Buffer.from([0x6c, 0xe9, 0xff]);
const BIG = seededBytes(11, 300 * 1024);

/** The tree tar gets wrong most easily: long names and targets, bytes, links, modes, times. */
function buildSource(root: string): void {
  const tree = join(root, "tree");
  mkdirSync(join(tree, "sub", "empty"), { recursive: true });
  writeFileSync(join(root, "top.txt"), "at the top\n");
  writeFileSync(join(tree, "plain.txt"), "plain\n");
  writeFileSync(join(tree, "sub", LONG_NAME), "long name\n");
  writeFileSync(Buffer.concat([Buffer.from(`${tree}/`), NOT_UTF8]), "x");
  writeFileSync(join(tree, "big.bin"), BIG);
  writeFileSync(join(tree, "run.sh"), "#!/bin/sh\n");
  chmodSync(join(tree, "run.sh"), 0o755);
  writeFileSync(join(tree, "private"), "mine\n");
  chmodSync(join(tree, "private"), 0o600);
  linkSync(join(tree, "plain.txt"), join(tree, "sub", "hard-link"));
  symlinkSync("plain.txt", join(tree, "link"));
  symlinkSync(LONG_TARGET, join(tree, "sub", "long-link"));
  utimesSync(
    join(tree, "plain.txt"),
    1_600_000_000.123456,
    1_600_000_000.123456,
  );
  utimesSync(join(tree, "sub", "empty"), 1_500_000_000.5, 1_500_000_000.5);
  utimesSync(join(tree, "sub"), 1_400_000_000.25, 1_400_000_000.25);
  utimesSync(tree, 1_300_000_000, 1_300_000_000);
}

beforeAll(async () => {
  const made = testContext();
  ({ context, dir, cleanup } = made);
  repository = join(dir, "repo");
  source = join(dir, "source");
  buildSource(source);
  await runInit(context.with(), { repository });
  await runBackup(context.with(), { repository, sources: [source] });
});

afterAll(() => {
  cleanup();
});

/** Writes what a dump printed to a file and extracts it with the system's tar. */
function extract(dumped: TestContext, name: string): string {
  const archive = join(dir, `${name}.tar`);
  writeFileSync(archive, Buffer.concat(dumped.stdout.chunks));
  const out = join(dir, name);
  mkdirSync(out);
  execFileSync("tar", ["-x", "-p", "-f", archive, "-C", out]);
  return out;
}

describe("runDump()", () => {
  it("writes a file's bytes as they are", async () => {
    const dumped = context.with();
    await expect(
      runDump(dumped, { repository, snapshot: "latest", path: "tree/big.bin" }),
    ).resolves.toBe("file");
    expect(Buffer.concat(dumped.stdout.chunks).equals(BIG)).toBe(true);
  });

  it("writes a directory as a tar archive that tar extracts to the same tree", async () => {
    const dumped = context.with();
    await expect(
      runDump(dumped, { repository, snapshot: "latest", path: "tree" }),
    ).resolves.toBe("tar");
    const out = extract(dumped, "extracted-tree");
    // Names, bytes, modes, nanosecond mtimes (the directory's own too), links.
    expect(
      directoryDifferences(join(source, "tree"), join(out, "tree")),
    ).toEqual([]);
    expect(readFileSync(join(out, "tree", "sub", "hard-link"), "utf8")).toBe(
      "plain\n",
    );
  });

  it('dumps the whole snapshot for "/", its entries at the top of the archive', async () => {
    const dumped = context.with();
    await runDump(dumped, { repository, snapshot: "latest", path: "/" });
    const out = extract(dumped, "extracted-root");
    expect(treeDifferences(describeTree(source), describeTree(out))).toEqual(
      [],
    );
  });

  it("refuses a directory for a terminal, a symlink, and a missing path", async () => {
    await expect(
      runDump(context.with(), {
        repository,
        snapshot: "latest",
        path: "tree",
        toTerminal: true,
      }),
    ).rejects.toMatchObject({ kind: "usage" });
    await expect(
      runDump(context.with(), {
        repository,
        snapshot: "latest",
        path: "tree/link",
      }),
    ).rejects.toMatchObject({
      kind: "usage",
      message: '"tree/link" is a symlink: dump writes files and directories',
    });
    await expect(
      runDump(context.with(), { repository, snapshot: "latest", path: "nope" }),
    ).rejects.toMatchObject({ kind: "not-found" });
  });
});

describe("runDump() of a directory holding a fifo", () => {
  it("writes the fifo as a tar FIFO entry, which tar recreates with its mode and mtime", async () => {
    const piped = join(dir, "piped");
    mkdirSync(join(piped, "spool"), { recursive: true });
    writeFileSync(join(piped, "spool", "before.txt"), "before\n");
    makeFifoSync(Buffer.from(join(piped, "spool", "queue")), 0o640);
    chmodSync(join(piped, "spool", "queue"), 0o640);
    utimesSync(join(piped, "spool", "queue"), 1_200_000_000, 1_200_000_000);
    const pipedRepository = join(dir, "piped-repo");
    await runInit(context.with(), { repository: pipedRepository });
    await runBackup(context.with(), {
      repository: pipedRepository,
      sources: [piped],
    });
    const dumped = context.with();
    await runDump(dumped, {
      repository: pipedRepository,
      snapshot: "latest",
      path: "spool",
    });
    const out = extract(dumped, "extracted-fifo");
    const fifo = lstatSync(join(out, "spool", "queue"));
    expect(fifo.isFIFO()).toBe(true);
    expect(fifo.mode & 0o7777).toBe(0o640);
    expect(fifo.mtimeMs).toBe(1_200_000_000_000);
    expect(readFileSync(join(out, "spool", "before.txt"), "utf8")).toBe(
      "before\n",
    );
  });
});
