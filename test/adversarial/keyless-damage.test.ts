/**
 * Issue 17 item 5: what a connection without the passphrase can break. Through a real
 * `blindsync serve --append-only` process (reached by an "ssh" that runs it whatever the client
 * asks, as a forced command in authorized_keys does), a client with no passphrase puts a
 * random 200-byte "snapshot" blob and a garbage key slot. Both used to make snapshots, backup,
 * restore, check, forget and prune exit 13 for everyone, with nothing to remove them.
 *
 * Now every command skips them with a warning and works, over a full-access connection and the
 * append-only one; check names them (exit 13: it found damage); repair removes them over a
 * full-access connection (and refuses, exit 1, over the append-only one), after which check is
 * clean; prune over a full-access connection removes such snapshot blobs too.
 */
import { randomBytes } from "node:crypto";
import { promises as fsp, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open.js";
import { toHex } from "../../src/util/bytes.js";
import { type CliResult, runCli } from "../helpers/cli.js";
import { seededBytes } from "../helpers/prng.js";
import {
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";
import { blindsyncShellCommand } from "../helpers/serve-process.js";

let work: string;
let repoPath: string;
let location: string;
let source: string;
let cacheDir: string;
let fullSsh: string;
let appendOnlySsh: string;

const GARBAGE_SLOT = "0000000000000000";
let garbageId: string;

function cli(
  args: readonly string[],
  ssh: string,
  extra: { cacheDir?: string } = {},
): Promise<CliResult> {
  return runCli(args, {
    cacheDir: extra.cacheDir ?? cacheDir,
    env: { BLINDSYNC_SSH: ssh },
  });
}

/** One problem object per line of `check --json`, summary excluded. */
function problems(stdout: string): { kind: string; id: string }[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map(
      (line) => JSON.parse(line) as { type: string; kind: string; id: string },
    )
    .filter((object) => object.type === "problem");
}

/** Puts garbage through the append-only forced command, with no passphrase anywhere. */
async function putGarbage(options: { slot: boolean }): Promise<string> {
  const store = await openStore(location, {
    mode: "open",
    sshCommand: appendOnlySsh,
  });
  try {
    expect(store.appendOnly).toBe(true);
    const id = new Uint8Array(randomBytes(32));
    await store.put([
      { id, kind: "snapshot", bytes: new Uint8Array(randomBytes(200)) },
    ]);
    if (options.slot)
      await store.addKeySlot({
        name: GARBAGE_SLOT,
        bytes: new Uint8Array(randomBytes(200)),
      });
    return toHex(id);
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  work = await tempDir("blindsync-keyless-");
  repoPath = join(work, "repo");
  location = `localhost:${repoPath}`;
  source = join(work, "source");
  cacheDir = join(work, "cache");
  await fsp.mkdir(join(source, "sub"), { recursive: true });
  await fsp.writeFile(join(source, "a.txt"), "first\n");
  await fsp.writeFile(join(source, "sub", "b.bin"), seededBytes(5, 100_000));
  // Two "ssh" commands that ignore what the client asks and run serve, as a forced command
  // does: one with full access, one append-only.
  fullSsh = join(work, "ssh-full");
  appendOnlySsh = join(work, "ssh-append-only");
  writeFileSync(fullSsh, `#!/bin/sh\nexec ${blindsyncShellCommand()} serve\n`, {
    mode: 0o755,
  });
  writeFileSync(
    appendOnlySsh,
    `#!/bin/sh\nexec ${blindsyncShellCommand()} serve --append-only\n`,
    { mode: 0o755 },
  );
  for (const args of [
    ["init", location],
    ["backup", source, location],
  ]) {
    const result = await cli(args, fullSsh);
    expect(result.code, result.stderr).toBe(0);
  }
  await fsp.writeFile(join(source, "a.txt"), "second\n");
  const second = await cli(["backup", source, location], fullSsh);
  expect(second.code, second.stderr).toBe(0);
  garbageId = await putGarbage({ slot: true });
}, 120_000);

afterAll(async () => {
  await removeDir(work);
});

function expectWarned(result: CliResult): void {
  expect(result.stderr).toContain(
    `warning: snapshot blob ${garbageId.slice(0, 16)} skipped`,
  );
  expect(result.stderr).toContain(`warning: key slot ${GARBAGE_SLOT} skipped`);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe("garbage put without the passphrase (issue 17 item 5)", () => {
  it("leaves snapshots, ls, backup and restore working over both connections, each warning about it", async () => {
    for (const [name, ssh] of [
      ["full access", fullSsh],
      ["append-only", appendOnlySsh],
    ] as const) {
      const listed = await cli(["--json", "snapshots", location], ssh);
      expect(listed.code, `${name}: ${listed.stderr}`).toBe(0);
      expectWarned(listed);
      const ids = (JSON.parse(listed.stdout) as { id: string }[]).map(
        (snapshot) => snapshot.id,
      );
      expect(ids).not.toContain(garbageId);
      const ls = await cli(["ls", location], ssh);
      expect(ls.code, `${name}: ${ls.stderr}`).toBe(0);
      expect(ls.stdout).toContain("a.txt");
      await fsp.writeFile(join(source, "a.txt"), `changed over ${name}\n`);
      const backup = await cli(["backup", source, location], ssh);
      expect(backup.code, `${name}: ${backup.stderr}`).toBe(0);
      expectWarned(backup);
      const target = join(work, `restored-${name.replace(/\W/g, "")}`);
      const restore = await cli(["restore", location, target], ssh);
      expect(restore.code, `${name}: ${restore.stderr}`).toBe(0);
      expect(
        treeDifferences(describeTree(source), describeTree(target)),
      ).toEqual([]);
      const keys = await cli(["key", "list", location], ssh);
      expect(keys.code, `${name}: ${keys.stderr}`).toBe(0);
      expect(keys.stdout).toMatch(
        new RegExp(`${GARBAGE_SLOT}\\s+unreadable: Key slot is malformed`),
      );
    }
    // A client that never saw the repository is not stopped either.
    const fresh = await cli(["snapshots", location], appendOnlySsh, {
      cacheDir: join(work, "fresh-cache"),
    });
    expect(fresh.code, fresh.stderr).toBe(0);
    expectWarned(fresh);
  });

  it("check names the snapshot blob and the key slot (exit 13) over both connections", async () => {
    for (const ssh of [fullSsh, appendOnlySsh]) {
      const check = await cli(["--json", "check", location], ssh);
      expect(check.code, check.stderr).toBe(13);
      expect(
        problems(check.stdout).map((problem) => [problem.kind, problem.id]),
      ).toStrictEqual([
        ["undecodable-snapshot", garbageId],
        ["unreadable-key-slot", GARBAGE_SLOT],
      ]);
      const text = await cli(["check", location], ssh);
      expect(text.code).toBe(13);
      expect(text.stdout).toContain(`snapshot blob ${garbageId}`);
      expect(text.stdout).toContain(`key slot ${GARBAGE_SLOT}`);
      expect(text.stdout).toMatch(/blindsync repair/);
    }
  });

  it("forget works over a full-access connection and leaves no warning about the gap it makes", async () => {
    const forget = await cli(["forget", location, "--keep-last", "2"], fullSsh);
    expect(forget.code, forget.stderr).toBe(0);
    expectWarned(forget);
    const check = await cli(["--json", "check", location], fullSsh);
    expect(problems(check.stdout).map((problem) => problem.kind)).toStrictEqual(
      ["undecodable-snapshot", "unreadable-key-slot"],
    );
    expect(check.stderr).not.toMatch(/gap/);
  });

  it("repair refuses over the append-only connection (exit 1) and lists what it would remove with --dry-run", async () => {
    const refused = await cli(["repair", location], appendOnlySsh);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/append-only/);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    const dry = await cli(["repair", "--dry-run", location], appendOnlySsh);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`would remove snapshot blob ${garbageId}`);
    expect(dry.stdout).toContain(`would remove key slot ${GARBAGE_SLOT}`);
    expect((await cli(["check", location], fullSsh)).code).toBe(13);
  });

  it("repair over a full-access connection removes both, after which check is clean and nothing warns", async () => {
    const repaired = await cli(["repair", location], fullSsh);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toContain(`removed snapshot blob ${garbageId}`);
    expect(repaired.stdout).toContain(`removed key slot ${GARBAGE_SLOT}`);
    const check = await cli(["check", "--read-data", location], fullSsh);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stderr).toBe("");
    const keys = await cli(["--json", "key", "list", location], fullSsh);
    expect(
      (JSON.parse(keys.stdout) as { name: string }[]).map((slot) => slot.name),
    ).not.toContain(GARBAGE_SLOT);
    const again = await cli(["repair", location], fullSsh);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/Nothing to repair/);
  });

  it("prune over a full-access connection removes a garbage snapshot blob too (and refuses over append-only)", async () => {
    const id = await putGarbage({ slot: false });
    const refused = await cli(["prune", location], appendOnlySsh);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/append-only/);
    const prune = await cli(["--json", "prune", location], fullSsh);
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stderr).toContain(`snapshot blob ${id.slice(0, 16)} skipped`);
    const result = JSON.parse(
      prune.stdout.split("\n").find((line) => line.includes('"prune"')) ?? "{}",
    ) as { undecodableSnapshots?: number };
    expect(result.undecodableSnapshots).toBe(1);
    const check = await cli(["check", location], fullSsh);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stderr).toBe("");
    const target = join(work, "after-prune");
    const restore = await cli(["restore", location, target], fullSsh);
    expect(restore.code, restore.stderr).toBe(0);
    expect(treeDifferences(describeTree(source), describeTree(target))).toEqual(
      [],
    );
  });
});
