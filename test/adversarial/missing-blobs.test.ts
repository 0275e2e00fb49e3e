/**
 * T7 of the adversarial suite: a server that deletes blobs, or deletes the newest snapshot.
 *
 * - Deleted data blobs (and a deleted tree): `check` without --read-data names each missing
 *   blob and every file (or directory) that needs it, and exits 13; restore writes everything
 *   else exactly and none of the affected files, and exits non-zero.
 * - A deleted newest snapshot: the client that wrote it (its pin holds that head) refuses every
 *   command with exit 14, writes nothing and keeps its pin. What a client with a fresh cache
 *   sees is recorded as observed: an older, self-consistent repository, which it cannot tell
 *   from the real thing (no freshness channel the server does not control; docs/design.md,
 *   "The head chain and pinning"). A deleted snapshot in the middle of the chain looks exactly
 *   like one `forget` removed: `check` counts the gap in its summary (chainGaps) and warns
 *   about nothing, since a warning after every forget is one users learn to ignore.
 */
import { existsSync, readdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromHex, toHex } from "../../src/util/bytes.js";
import { readPin } from "../../src/repo/index.js";
import { isCleanError, jsonProblems, runCli } from "../helpers/cli.js";
import { count } from "../helpers/counts.js";
import { expectRestoreSkipsDamaged } from "../helpers/damage.js";
import {
  copyRepository,
  databaseOf,
  deleteBlobRows,
} from "../helpers/database.js";
import { sha256File } from "../helpers/files.js";
import { Prng } from "../helpers/prng.js";
import {
  pristineRepository,
  readLayout,
  type PristineRepository,
} from "../helpers/repositories.js";
import { buildManyFilesTree, removeDir, tempDir } from "../helpers/trees.js";

const T7_BLOBS = count(3, 10);
const FILES = T7_BLOBS + 20;

describe("deleted data and tree blobs (T7)", () => {
  let work: string;
  let pristine: PristineRepository;

  beforeAll(async () => {
    work = await tempDir("blindsync-missing-");
    pristine = await pristineRepository(work, {
      files: FILES,
      dirs: 6,
      seed: 7,
    });
    expect(pristine.dataIds).toHaveLength(FILES + 2);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  async function expectNamedAndSkipped(
    name: string,
    victims: readonly string[],
    users: (id: string) => string[],
  ): Promise<void> {
    const repo = join(work, name, "repo");
    const cacheDir = join(work, name, "cache");
    await copyRepository(pristine.repo, repo);
    deleteBlobRows(repo, victims.map(fromHex));

    const check = await runCli(["--json", "check", repo], { cacheDir });
    expect(check.code, check.stderr).toBe(13);
    const problems = jsonProblems(check.stdout);
    expect(problems.map((problem) => problem.id).sort()).toStrictEqual(
      [...victims].sort(),
    );
    for (const problem of problems) {
      expect(problem.kind).toBe("missing-blob");
      expect(problem.reason).toBe("not in the store");
      expect([...problem.paths].sort()).toStrictEqual(
        [...users(problem.id)].sort(),
      );
      expect(problem.snapshots).toStrictEqual([
        (pristine.layout.snapshots[0] ?? "").slice(0, 8),
      ]);
    }
    // The same in the words a person reads: one line per blob, with its files.
    const text = await runCli(["check", repo], { cacheDir });
    expect(text.code).toBe(13);
    for (const id of victims) {
      const line = text.stdout
        .split("\n")
        .find((candidate) => candidate.includes(id.slice(0, 8)));
      expect(line, text.stdout).toMatch(/^missing (data|tree) blob/);
      for (const path of users(id)) expect(line).toContain(path);
    }

    const damagedPaths = [...new Set(victims.flatMap(users))];
    await expectRestoreSkipsDamaged({
      repo,
      target: join(work, name, "restored"),
      cacheDir,
      source: pristine.sourceTree,
      damagedPaths,
    });
  }

  it(`check without --read-data names ${T7_BLOBS} deleted data blobs and every file that needs them; restore skips only those`, async () => {
    const victims = new Prng(0x7701).pick(pristine.dataIds, T7_BLOBS);
    await expectNamedAndSkipped("data", victims, (id) => {
      const users = pristine.layout.dataUsers.get(id);
      if (users === undefined) throw new Error(`unknown blob ${id}`);
      return users;
    });
  });

  it("check names a deleted directory tree with its path; restore skips that directory", async () => {
    const subtree = [...pristine.layout.treeUsers.entries()]
      .filter(([, paths]) => !paths.includes(""))
      .map(([id]) => id)
      .sort()[0];
    if (subtree === undefined) throw new Error("no subtree");
    await expectNamedAndSkipped("tree", [subtree], (id) => {
      const users = pristine.layout.treeUsers.get(id);
      if (users === undefined) throw new Error(`unknown tree ${id}`);
      return users;
    });
  });
});

describe("a deleted newest snapshot (T7)", () => {
  let work: string;
  let source: string;
  let repo: string;
  let writerCache: string;
  let pristine: string;
  let snapshots: string[];

  beforeAll(async () => {
    work = await tempDir("blindsync-head-");
    source = join(work, "source");
    repo = join(work, "repo");
    writerCache = join(work, "writer-cache");
    await buildManyFilesTree(source, { files: 6, dirs: 2, seed: 8 });
    expect((await runCli(["init", repo], { cacheDir: writerCache })).code).toBe(
      0,
    );
    for (let run = 1; run <= 3; run++) {
      await writeFile(join(source, "top.txt"), `version ${run}\n`);
      const backup = await runCli(["backup", source, repo], {
        cacheDir: writerCache,
      });
      expect(backup.code, backup.stderr).toBe(0);
    }
    snapshots = (await readLayout(repo)).snapshots;
    expect(snapshots).toHaveLength(3);
    // Taken before the first test deletes the newest snapshot of `repo` itself.
    pristine = join(work, "pristine");
    await copyRepository(repo, pristine);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("the client that wrote it refuses every command with exit 14, writes nothing and keeps its pin", async () => {
    const pinBefore = readPin(writerCache, resolve(repo));
    expect(pinBefore?.lastSeq).toBe(3);
    expect(toHex(pinBefore?.lastHeadId ?? new Uint8Array())).toBe(snapshots[2]);
    const newest = snapshots[2] ?? "";
    deleteBlobRows(repo, [fromHex(newest)]);
    const hash = sha256File(databaseOf(repo));
    const target = join(work, "target");
    for (const args of [
      ["snapshots", repo],
      ["ls", repo],
      ["check", repo],
      ["check", "--read-data", repo],
      ["restore", repo, target],
      ["backup", source, repo],
    ]) {
      const result = await runCli(args, { cacheDir: writerCache });
      expect(result.code, `${args[0] ?? ""}: ${result.stderr}`).toBe(14);
      expect(isCleanError(result.stderr), result.stderr).toBe(true);
      expect(result.stderr).toMatch(
        /^blindsync: The repository shows head 2 but this client has seen head 3: it was rolled back or snapshots were removed\n {2}hint: /,
      );
    }
    expect(sha256File(databaseOf(repo))).toBe(hash);
    expect(existsSync(target) ? readdirSync(target) : []).toStrictEqual([]);
    expect(readPin(writerCache, resolve(repo))).toStrictEqual(pinBefore);
  });

  it("observed: a client with a fresh cache sees the older head and cannot tell (check exits 0 with 2 snapshots)", async () => {
    const copy = join(work, "head-deleted-fresh");
    await copyRepository(pristine, copy);
    deleteBlobRows(copy, [fromHex(snapshots[2] ?? "")]);
    const cacheDir = join(work, "fresh-cache");
    const check = await runCli(["check", "--read-data", copy], { cacheDir });
    // No gap is visible: nothing left points at the deleted head. Only a pin can catch this.
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/Checked 2 snapshots/);
    expect(check.stderr).not.toMatch(/gap/);
    const listed = await runCli(["--json", "snapshots", copy], { cacheDir });
    expect(
      (JSON.parse(listed.stdout) as { id: string }[]).map((s) => s.id),
    ).toStrictEqual(snapshots.slice(0, 2));
  });

  it("a deleted snapshot inside the chain is counted by check as a gap, without a warning (forget leaves the same)", async () => {
    const copy = join(work, "middle-deleted");
    await copyRepository(pristine, copy);
    deleteBlobRows(copy, [fromHex(snapshots[1] ?? "")]);
    const cacheDir = join(work, "gap-cache");
    const check = await runCli(["--json", "check", copy], { cacheDir });
    expect(check.code, check.stderr).toBe(0);
    expect(jsonProblems(check.stdout)).toStrictEqual([]);
    const summary = check.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { type: string; chainGaps?: number })
      .find((object) => object.type === "summary");
    expect(summary?.chainGaps).toBe(1);
    const text = await runCli(["check", copy], { cacheDir });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).not.toMatch(/gap/);
  });
});
