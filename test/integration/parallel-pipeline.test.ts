/**
 * The parallel backup pipeline (sealing worker threads, files read concurrently, batches in
 * flight) must not change what is stored: the same tree gives the same blob ids, the same
 * trees and the same root whatever the worker count.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { seededBytes } from "../helpers/prng.js";
import { buildEdgeCaseTree, removeDir, tempDir } from "../helpers/trees.js";

describe("the parallel backup pipeline", () => {
  let work: string;
  let source: string;
  let repo: string;
  beforeAll(async () => {
    work = await tempDir();
    source = join(work, "source");
    repo = join(work, "repo");
    await buildEdgeCaseTree(source, { bigFileBytes: 9 * 1024 * 1024 });
    mkdirSync(join(source, "many"));
    for (let index = 0; index < 300; index++) {
      writeFileSync(
        join(source, "many", `f${index}`),
        seededBytes(index + 1, 1 + ((index * 7919) % 20000)),
      );
    }
    expect(
      (await runCli(["init", repo], { cacheDir: join(work, "cache-init") }))
        .code,
    ).toBe(0);
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("stores the same ids and root tree with 0, 1 and 3 sealing workers", async () => {
    const roots: string[] = [];
    const added: string[] = [];
    for (const workers of ["0", "1", "3"]) {
      // A fresh cache each time, so every file is read, chunked, hashed and offered again.
      const cacheDir = join(work, `cache-${workers}`);
      const result = await runCli(["backup", source, repo, "--json"], {
        cacheDir,
        env: { BLINDSYNC_WORKERS: workers },
      });
      expect(result.code, result.stderr).toBe(0);
      const summary = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as {
        blobsAdded: number;
        snapshot: string;
      };
      added.push(String(summary.blobsAdded));
      const snapshots = JSON.parse(
        (await runCli(["snapshots", repo, "--json"], { cacheDir })).stdout,
      ) as { id: string; tree: string }[];
      roots.push(
        snapshots.find((snapshot) => snapshot.id === summary.snapshot)!.tree,
      );
    }
    expect(new Set(roots).size).toBe(1);
    // Each file of many/ over 1 KiB is at least one data blob (smaller ones are inline in
    // their tree), plus the edge-case tree's files and every directory's tree.
    const overInlineLimit = Array.from(
      { length: 300 },
      (_, index) => 1 + ((index * 7919) % 20000),
    ).filter((size) => size > 1024).length;
    expect(Number(added[0])).toBeGreaterThan(overInlineLimit);
    expect(added.slice(1)).toEqual(["0", "0"]);
    const restore = await runCli(["check", repo, "--read-data"], {
      cacheDir: join(work, "cache-check"),
    });
    expect(restore.code, restore.stdout + restore.stderr).toBe(0);
  });

  it("seals a batch of small blobs split across 3 workers, each blob under its own id", async () => {
    // A fresh repository, so the workers' sealed bytes are the ones stored, then read back.
    const fresh = join(work, "repo-small");
    const cacheDir = join(work, "cache-small");
    expect((await runCli(["init", fresh], { cacheDir })).code).toBe(0);
    const result = await runCli(["backup", join(source, "many"), fresh], {
      cacheDir,
      env: { BLINDSYNC_WORKERS: "3" },
    });
    expect(result.code, result.stderr).toBe(0);
    const check = await runCli(["check", fresh, "--read-data"], { cacheDir });
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });
});
