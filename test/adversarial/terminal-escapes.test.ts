/**
 * Issue 17, item 10: names from the repository never reach the terminal as control
 * sequences. Whoever can write to the repository (a key holder, or the user's own careless
 * tag) picks host names, tags, paths and file names; a server picks what its stderr says. An
 * OSC sequence (ESC ] ... BEL) retitles the terminal or plants a link, a CSI sequence (ESC [
 * ... or the one-byte C1 CSI) rewrites the screen, and bidi overrides reorder what is read.
 * Human output shows them escaped; JSON output holds the exact strings (as JSON escapes).
 * Real repository, the real built CLI, a snapshot sealed with the repository's real keys.
 */
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromHex, toHex } from "../../src/util/bytes.js";
import { CLI, type CliResult, runCli } from "../helpers/cli.js";
import { withRepository } from "../helpers/repositories.js";
import { listeningSockets } from "../helpers/sockets.js";
import { removeDir, tempDir } from "../helpers/trees.js";

/** OSC 0 (set the window title), ended by BEL. */
const OSC_TITLE = "\x1b]0;pwned\x07";
/** CSI "clear the screen", and the same as the one-byte C1 CSI. */
const CSI_CLEAR = "\x1b[2J";
const C1_CSI = "\u009b2J";
/** Right-to-left override: "txt.exe" would read as "exe.txt". */
const BIDI = "\u202e";

const TAG = `tag${OSC_TITLE}${CSI_CLEAR}${C1_CSI}${BIDI}end`;
const HOST = `host${OSC_TITLE}\x1b]8;;https://evil.example/\x07link\x1b]8;;\x07${C1_CSI}\r`;
const PATH = `/home/${CSI_CLEAR}${BIDI}`;
const FILE_NAMES = [
  `red\x1b[31mname`,
  `title${OSC_TITLE}`,
  `c1${C1_CSI}`,
  `bidi${BIDI}txt.exe`,
];

/** Anything a terminal acts on, except the newline that ends each line. */
const RAW_CONTROL =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/u;

function expectNothingRaw(result: CliResult, what: string): void {
  expect(result.stdout, `${what}: stdout`).not.toMatch(RAW_CONTROL);
  expect(result.stderr, `${what}: stderr`).not.toMatch(RAW_CONTROL);
}

let work: string;
let repo: string;
let source: string;
let cacheDir: string;
let firstId: string;
let craftedId: string;
let closeSockets = (): Promise<void> => Promise.resolve();

const cli = (args: readonly string[]): Promise<CliResult> =>
  runCli(args, { cacheDir });

beforeAll(async () => {
  work = await tempDir("blindsync-terminal-escapes-");
  repo = join(work, "repo");
  source = join(work, "source");
  cacheDir = join(work, "cache");
  await fsp.mkdir(source);
  for (const name of FILE_NAMES)
    await fsp.writeFile(join(source, name), `${name.length}\n`);
  // Skipped with a warning that names it: the warning path to stderr. (A socket: fifos are
  // stored since tree format 2.)
  closeSockets = await listeningSockets([join(source, `sock${OSC_TITLE}`)]);
  const init = await cli(["init", repo]);
  expect(init.code, init.stderr).toBe(0);

  const backup = await cli(["backup", source, repo, "--tag", TAG]);
  expect(backup.code, backup.stderr).toBe(0);
  expect(backup.stderr).toMatch(/Skipped/);
  expectNothingRaw(backup, "backup");

  // A key holder adds a snapshot (same tree) whose host name and path carry sequences.
  const listed = await cli(["snapshots", "--json", repo]);
  const [first] = JSON.parse(listed.stdout) as {
    id: string;
    tree: string;
    seq: number;
  }[];
  if (first === undefined) throw new Error("no snapshot");
  firstId = first.id;
  await withRepository(repo, async (keys) => {
    const crafted = await keys.saveSnapshot({
      seq: first.seq + 1,
      previous: fromHex(first.id),
      tree: fromHex(first.tree),
      time: new Date().toISOString(),
      host: HOST,
      username: "someone",
      paths: [PATH],
      tags: [TAG],
      stats: { files: 4, dirs: 1, bytes: 0, blobsAdded: 0, bytesAdded: 0 },
    });
    craftedId = toHex(crafted.id);
  });
});

afterAll(async () => {
  await closeSockets();
  await removeDir(work);
});

describe("control characters from the repository in human output", () => {
  it("snapshots shows the tag, host name and path escaped, not raw", async () => {
    const result = await cli(["snapshots", repo]);
    expect(result.code, result.stderr).toBe(0);
    expectNothingRaw(result, "snapshots");
    // Shown, escaped: nothing is dropped.
    expect(result.stdout).toContain("tag\\x1b]0;pwned\\x07\\x1b[2J\\x9b2J");
    expect(result.stdout).toContain("\\u{202e}end");
    expect(result.stdout).toContain("host\\x1b]0;pwned\\x07");
    expect(result.stdout).toContain("\\x0d");
    expect(result.stdout).toContain("/home/\\x1b[2J\\u{202e}");
  });

  it("snapshots --json keeps the exact strings, with no raw control character in the text", async () => {
    const result = await cli(["snapshots", "--json", repo]);
    expect(result.code, result.stderr).toBe(0);
    expectNothingRaw(result, "snapshots --json");
    const snapshots = JSON.parse(result.stdout) as {
      id: string;
      host: string;
      tags: string[];
      paths: string[];
    }[];
    const crafted = snapshots.find((snapshot) => snapshot.id === craftedId);
    expect(crafted?.host).toBe(HOST);
    expect(crafted?.tags).toEqual([TAG]);
    expect(crafted?.paths).toEqual([PATH]);
  });

  it("ls, ls -l and ls --json show file names escaped", async () => {
    for (const args of [
      ["ls", repo],
      ["ls", "-l", repo],
      ["ls", "--json", repo],
    ]) {
      const result = await cli(args);
      expect(result.code, result.stderr).toBe(0);
      expectNothingRaw(result, args.join(" "));
    }
    const long = await cli(["ls", "-l", repo]);
    expect(long.stdout).toContain("red\\x1b[31mname");
    // JSON carries ls's display form of a name (bytes that may not be UTF-8), escapes and all.
    const json = await cli(["ls", "--json", repo]);
    const paths = json.stdout
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { path: string }).path);
    expect(paths).toContain("red\\x1b[31mname");
    const plain = await cli(["ls", repo]);
    expect(plain.stdout).toContain("bidi\\u{202e}txt.exe");
    expect(plain.stdout).toContain("c1\\x9b2J");
  });

  it("diff shows changed names escaped", async () => {
    await fsp.writeFile(join(source, FILE_NAMES[0] ?? ""), "changed\n");
    await fsp.writeFile(
      join(source, `new${OSC_TITLE}${C1_CSI}${BIDI}`),
      "new\n",
    );
    const backup = await cli(["backup", source, repo]);
    expect(backup.code, backup.stderr).toBe(0);
    const result = await cli(["diff", repo, firstId.slice(0, 8), "latest"]);
    expect(result.code, result.stderr).toBe(0);
    expectNothingRaw(result, "diff");
    expect(result.stdout).toContain("+ new\\x1b]0;pwned\\x07\\x9b2J\\u{202e}");
  });

  it("an error message that quotes a path shows it escaped", async () => {
    const result = await cli(["cat", repo, `missing${OSC_TITLE}${C1_CSI}`]);
    expect(result.code).toBe(1);
    expectNothingRaw(result, "cat error");
    expect(result.stderr).toContain("missing\\x1b]0;pwned\\x07\\x9b2J");
  });

  it("what a server writes to ssh's stderr is shown escaped", async () => {
    // A fake ssh (standing in for a hostile server's stderr) that then runs the real serve.
    const fakeSsh = join(work, "noisy-ssh");
    await fsp.writeFile(
      fakeSsh,
      `#!/bin/sh\nprintf 'motd \\033]0;pwned\\007 \\033[2J\\302\\233H\\n' >&2\nfor last; do :; done\nexec /bin/sh -c "$last"\n`,
      { mode: 0o755 },
    );
    const result = await cli([
      "snapshots",
      `somehost:${repo}`,
      "--ssh",
      fakeSsh,
      "--remote-cmd",
      `${process.execPath} ${CLI}`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(RAW_CONTROL);
    expectNothingRaw(result, "remote stderr");
    expect(result.stderr).toContain(
      "remote: motd \\x1b]0;pwned\\x07 \\x1b[2J\\x9bH",
    );
  });
});
