/**
 * Pack repositories through the built CLI on each backend (issue 19, "Must show"): a local pack
 * directory, `sftp:` through a real sshd whose key runs only OpenSSH's sftp-server (no blindsync
 * on the server), and `s3:` on s3rver. Each scenario is written once and runs on all three: the
 * edge-case tree round-trips exactly, a second backup after a small change stores little, every
 * command works, `--json` included, and `check --read-data` is clean. Then a pack directory
 * copied elsewhere with `cp -a` restores exactly from the copy, with a fresh cache.
 */
import { execFile } from "node:child_process";
import { appendFileSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type CliResult } from "../helpers/cli.js";
import {
  PACK_BACKENDS,
  startPackBackend,
  type PackBackend,
} from "../helpers/pack-backends.js";
import {
  buildEdgeCaseTree,
  directoryDifferences,
  removeDir,
  tempDir,
} from "../helpers/trees.js";

const run = promisify(execFile);

/** Every line of a `--json` command's stdout, each of which must be one JSON object. */
function jsonLines(result: CliResult): Record<string, unknown>[] {
  expect(result.code, result.stderr).toBe(0);
  return result.stdout
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The summary object of a `--json` command (its last line). */
function summaryOf(result: CliResult): Record<string, unknown> {
  const lines = jsonLines(result);
  const summary = lines.at(-1);
  expect(summary?.type, result.stdout).toBe("summary");
  return summary!;
}

describe.each(PACK_BACKENDS)(
  "a pack repository on %s through the CLI",
  (kind) => {
    let backend: PackBackend;
    let work: string;
    let source: string;
    let cacheDir: string;
    const NAME = "vault";
    const repo = () => backend.location(NAME);
    const cli = (...args: string[]) =>
      runCli(args, { cacheDir, env: backend.env() });
    let firstId: string;

    beforeAll(async () => {
      backend = await startPackBackend(kind);
      work = await tempDir(`blindsync-packs-cli-${kind}-`);
      cacheDir = join(work, "cache");
      source = await buildEdgeCaseTree(join(work, "source"));
    });

    afterAll(async () => {
      await backend.stop();
      await removeDir(work);
    });

    it("init, backup, snapshots --json, ls and restore: the edge-case tree round-trips exactly", async () => {
      const init = await cli(...backend.initArgs(NAME));
      expect(init.code, init.stderr).toBe(0);
      expect(init.stdout).toMatch(/Created repository/);
      expect(backend.objects(NAME, "config")).toEqual(["config"]);

      const backup = await cli("--json", "backup", source, repo());
      const summary = summaryOf(backup);
      expect(summary.snapshot).toMatch(/^[0-9a-f]{64}$/);
      firstId = String(summary.snapshot);
      // The tree's data went to packs, its snapshot to snapshots/ (one object per snapshot).
      expect(backend.objects(NAME, "packs/").length).toBeGreaterThan(0);
      expect(backend.objects(NAME, "index/").length).toBeGreaterThan(0);
      expect(backend.objects(NAME, "snapshots/")).toEqual([
        `snapshots/${firstId}`,
      ]);

      const snapshots = await cli("snapshots", "--json", repo());
      expect(snapshots.code, snapshots.stderr).toBe(0);
      const list = JSON.parse(snapshots.stdout) as { id: string }[];
      expect(list.map((snapshot) => snapshot.id)).toEqual([firstId]);

      const ls = jsonLines(await cli("--json", "ls", repo()));
      const paths = ls.map((entry) => entry.path);
      expect(paths).toContain("dir/nested/deeper/leaf.bin");
      // Control characters in names are escaped in --json output too (cli/output/escape.ts).
      expect(paths).toContain("with space and\\x0anewline");
      expect(paths).toContain("sparse.img");

      const cat = await cli("cat", repo(), "plain.txt");
      expect(cat.code, cat.stderr).toBe(0);
      expect(cat.stdout).toBe("hello blindsync\n");

      const target = join(work, "restored-1");
      const restore = await cli("restore", repo(), target);
      expect(restore.code, restore.stderr).toBe(0);
      expect(directoryDifferences(source, target)).toEqual([]);
    });

    it("a second backup after a small change stores a small fraction of the first, and diff names the change", async () => {
      const packsAfterFirst = backend.storedBytes(NAME, "packs/");
      appendFileSync(join(source, "plain.txt"), "a small change\n");
      writeFileSync(join(source, "new-file"), "new\n");
      const backup = await cli("--json", "backup", source, repo());
      const summary = summaryOf(backup);
      const secondId = String(summary.snapshot);
      const added = backend.storedBytes(NAME, "packs/") - packsAfterFirst;
      // The first backup stored the big file (3 MiB) and the rest; the change is a few bytes in
      // two files plus the trees above them.
      expect(packsAfterFirst).toBeGreaterThan(3 * 1024 * 1024);
      expect(added).toBeGreaterThan(0);
      expect(added).toBeLessThan(64 * 1024);
      expect(Number(summary.bytesStored)).toBeLessThan(64 * 1024);

      const diff = jsonLines(
        await cli(
          "--json",
          "diff",
          repo(),
          firstId.slice(0, 10),
          secondId.slice(0, 10),
        ),
      );
      expect(diff).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ change: "added", path: "new-file" }),
          expect.objectContaining({ change: "modified", path: "plain.txt" }),
        ]),
      );
      const target = join(work, "restored-2");
      const restore = await cli("restore", repo(), target);
      expect(restore.code, restore.stderr).toBe(0);
      expect(directoryDifferences(source, target)).toEqual([]);
    });

    it("check --read-data exits 0 and reads the data", async () => {
      const summary = summaryOf(
        await cli("--json", "check", "--read-data", repo()),
      );
      expect(summary).toMatchObject({ snapshots: 2, errors: 0, warnings: 0 });
      expect(Number(summary.blobsRead)).toBeGreaterThan(3);
    });

    it("the other commands work on it with --json: key list, unlock, repair, forget, prune, restore", async () => {
      const keys = jsonLines(await cli("--json", "key", "list", repo()));
      expect(keys.length).toBeGreaterThanOrEqual(1);
      jsonLines(await cli("--json", "unlock", repo()));
      jsonLines(await cli("--json", "repair", "--dry-run", repo()));

      const forget = await cli(
        "--json",
        "forget",
        repo(),
        "--keep-last",
        "1",
        "--prune",
      );
      jsonLines(forget);
      const list = JSON.parse(
        (await cli("snapshots", "--json", repo())).stdout,
      ) as {
        id: string;
      }[];
      expect(list).toHaveLength(1);
      expect(list[0]!.id).not.toBe(firstId);
      expect(backend.objects(NAME, "snapshots/")).toEqual([
        `snapshots/${list[0]!.id}`,
      ]);
      jsonLines(await cli("--json", "prune", repo()));

      const target = join(work, "restored-json");
      jsonLines(await cli("--json", "restore", repo(), target));
      expect(directoryDifferences(source, target)).toEqual([]);
      const check = await cli("check", "--read-data", repo());
      expect(check.code, check.stderr + check.stdout).toBe(0);
    });

    if (kind !== "dir")
      it("the URL forms (sftp://[user@]host[:port]/path, s3://bucket/prefix) name the same repository as the short form: init, backup, snapshots --json and restore", async () => {
        const name = "url-vault";
        const [initAt, backupAt, restoreAt] = backend.urlForms(name);
        if (initAt === undefined || backupAt === undefined)
          throw new Error("no URL forms");
        const init = await cli("init", initAt);
        expect(init.code, init.stderr).toBe(0);
        expect(backend.objects(name, "config")).toEqual(["config"]);
        const small = join(work, "url-source");
        await mkdir(join(small, "sub"), { recursive: true });
        writeFileSync(join(small, "a.txt"), "through a URL\n");
        writeFileSync(join(small, "sub", "b.bin"), Buffer.alloc(70_000, 7));
        const id = String(
          summaryOf(await cli("--json", "backup", small, backupAt)).snapshot,
        );
        // The last URL form and the short form list it: one repository, whatever its name.
        for (const at of [
          backend.urlForms(name).at(-1)!,
          backend.location(name),
        ]) {
          const listed = await cli("snapshots", "--json", at);
          expect(listed.code, `${at}: ${listed.stderr}`).toBe(0);
          const list = JSON.parse(listed.stdout) as { id: string }[];
          expect(list.map((snapshot) => snapshot.id)).toEqual([id]);
        }
        const target = join(work, "restored-url");
        const restore = await cli("restore", restoreAt ?? backupAt, target);
        expect(restore.code, restore.stderr).toBe(0);
        expect(directoryDifferences(small, target)).toEqual([]);
      });

    it("a second client with a cache of its own finds every blob stored and restores exactly", async () => {
      const otherCache = join(work, "cache-other");
      const other = (...args: string[]) =>
        runCli(args, { cacheDir: otherCache, env: backend.env() });
      const packsBefore = backend.objects(NAME, "packs/");
      const backup = await other("--json", "backup", source, repo());
      expect(summaryOf(backup).blobsAdded).toBe(0);
      expect(backend.objects(NAME, "packs/")).toEqual(packsBefore);
      const target = join(work, "restored-other");
      const restore = await other("restore", repo(), target);
      expect(restore.code, restore.stderr).toBe(0);
      expect(directoryDifferences(source, target)).toEqual([]);
    });
  },
);

describe("a pack directory copied elsewhere with cp -a", () => {
  let backend: PackBackend;
  let work: string;
  let source: string;

  beforeAll(async () => {
    backend = await startPackBackend("dir");
    work = await tempDir("blindsync-packs-copy-");
    source = await buildEdgeCaseTree(join(work, "source"));
  });

  afterAll(async () => {
    await backend.stop();
    await removeDir(work);
  });

  it("restores exactly from the copy, with the first client's cache and with a fresh one, and checks clean", async () => {
    const cacheDir = join(work, "cache");
    const cli = (args: string[], cache = cacheDir) =>
      runCli(args, { cacheDir: cache });
    const original = backend.location("vault");
    expect((await cli(backend.initArgs("vault"))).code).toBe(0);
    const backup = await cli(["backup", source, original]);
    expect(backup.code, backup.stderr).toBe(0);

    const copy = join(work, "elsewhere", "vault-copy");
    await run("mkdir", ["-p", join(work, "elsewhere")]);
    await run("cp", ["-a", original, copy]);

    // The same client: the copy is another location, so another cache directory.
    const sameClient = join(work, "restored-same-client");
    const restore = await cli(["restore", copy, sameClient]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(directoryDifferences(source, sameClient)).toEqual([]);

    // A machine that never saw the repository: an empty cache.
    const freshCache = join(work, "cache-fresh");
    const fresh = join(work, "restored-fresh");
    const restoreFresh = await cli(["restore", copy, fresh], freshCache);
    expect(restoreFresh.code, restoreFresh.stderr).toBe(0);
    expect(directoryDifferences(source, fresh)).toEqual([]);
    const check = await cli(["check", "--read-data", copy], freshCache);
    expect(check.code, check.stderr + check.stdout).toBe(0);
    // The storage's own keyless check finds every object of the copy intact.
    const scrub = await cli(["scrub", copy], freshCache);
    expect(scrub.code, scrub.stderr + scrub.stdout).toBe(0);

    // The copy is a repository of its own from here: a backup to it leaves the original as it was.
    const originalPacks = backend.objects("vault");
    writeFileSync(join(source, "after-the-copy"), "only in the copy\n");
    const again = await cli(["backup", source, copy], freshCache);
    expect(again.code, again.stderr).toBe(0);
    expect(backend.objects("vault")).toEqual(originalPacks);
    const target = join(work, "restored-copy-2");
    expect((await cli(["restore", copy, target], freshCache)).code).toBe(0);
    expect(directoryDifferences(source, target)).toEqual([]);
  });
});
