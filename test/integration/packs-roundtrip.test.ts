/**
 * A pack repository above the store: Repository.create on a PackStore over a real directory,
 * the engine's backup and restore (the edge-case tree restores exactly), a second client with
 * a fresh index cache and client cache that finds everything stored, and forget + prune that
 * free space in the directory while check --read-data stays clean. In process, as
 * roundtrip-property.test.ts runs the engine.
 */
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  applyRootMeta,
  backup,
  checkRepository,
  forget,
  prune,
  restoreSnapshot,
  type RestoreOptions,
} from "../../src/engine/index.js";
import {
  ClientCache,
  Repository,
  type Snapshot,
} from "../../src/repo/index.js";
import { DirObjectStore } from "../../src/store/objects/index.js";
import { PackStore } from "../../src/store/packs/pack-store.js";
import { FAST_SCRYPT, TEST_PASSPHRASE } from "../helpers/constants.js";
import {
  buildEdgeCaseTree,
  directoryDifferences,
  directorySize,
  removeDir,
  tempDir,
} from "../helpers/trees.js";

const sink = { progress: () => undefined, warn: () => undefined };

/** Restores as the CLI does: the tree, then the root directory's own metadata. */
async function restoreAll(
  options: RestoreOptions & { readonly snapshot: Snapshot },
): Promise<void> {
  const restored = await restoreSnapshot(options);
  expect(restored.errors).toBe(0);
  if (options.snapshot.root !== undefined)
    await applyRootMeta(options.target, options.snapshot.root);
}

describe("a pack repository through the engine", () => {
  let dir: string;
  let source: string;
  const repoDir = () => join(dir, "repo");

  async function openStore(cache: string): Promise<PackStore> {
    return new PackStore(
      await DirObjectStore.open(repoDir(), { create: true }),
      { indexCachePath: join(dir, cache), packSize: 1024 * 1024 },
    );
  }

  beforeAll(async () => {
    dir = await tempDir("blindsync-packs-roundtrip-");
    source = await buildEdgeCaseTree(join(dir, "source"), {
      bigFileBytes: 3 * 1024 * 1024,
    });
  });

  afterAll(async () => {
    await removeDir(dir);
  });

  it("backs up, restores exactly, and a second client finds every blob stored", async () => {
    const store = await openStore("index-first.sqlite");
    const repo = await Repository.create(store, TEST_PASSPHRASE, {
      scrypt: FAST_SCRYPT,
    });
    const cache = ClientCache.open(join(dir, "cache"), "first");
    try {
      const first = await backup({
        repo,
        cache,
        head: undefined,
        sources: [source],
        sink,
      });
      expect(first.snapshot).toBeDefined();
      expect(first.blobsAdded).toBeGreaterThan(3);
      const target = join(dir, "restored");
      await restoreAll({ repo, snapshot: first.snapshot!, target, sink });
      expect(directoryDifferences(source, target)).toEqual([]);
    } finally {
      cache.close();
      await store.close();
    }

    const otherStore = await openStore("index-second.sqlite");
    const other = await Repository.open(otherStore, TEST_PASSPHRASE);
    const fresh = ClientCache.open(join(dir, "cache"), "second");
    try {
      const [head] = await other.listSnapshots();
      const again = await backup({
        repo: other,
        cache: fresh,
        head,
        sources: [source],
        sink,
      });
      expect(again.blobsAdded).toBe(0);
      expect(again.snapshot?.tree).toEqual(head?.tree);
      const target = join(dir, "restored-by-second");
      await restoreAll({
        repo: other,
        snapshot: again.snapshot!,
        target,
        sink,
      });
      expect(directoryDifferences(source, target)).toEqual([]);
    } finally {
      fresh.close();
      await otherStore.close();
    }
  });

  it("forget and prune free space on the directory, and check --read-data stays clean", async () => {
    const store = await openStore("index-prune.sqlite");
    const repo = await Repository.open(store, TEST_PASSPHRASE);
    const cache = ClientCache.open(join(dir, "cache"), "prune");
    try {
      const extra = join(source, "going-away.bin");
      await writeFile(extra, randomBytes(4 * 1024 * 1024));
      let [head] = await repo.listSnapshots();
      const withExtra = await backup({
        repo,
        cache,
        head,
        sources: [source],
        sink,
      });
      await rm(extra);
      head = withExtra.snapshot;
      await backup({ repo, cache, head, sources: [source], sink });
      const before = await directorySize(repoDir());
      await forget({
        repo,
        snapshots: await repo.listSnapshots(),
        policy: { keepLast: 1 },
      });
      const pruned = await prune({
        repo,
        sink: { progress: () => undefined, waiting: () => undefined },
        lockWaitMs: 0,
      });
      expect(pruned.deletedBytes).toBeGreaterThan(4 * 1024 * 1024);
      expect(await directorySize(repoDir())).toBeLessThan(
        before - 4 * 1024 * 1024,
      );
      const report = await checkRepository({
        repo,
        snapshots: await repo.listSnapshots(),
        readData: "all",
        sink: { progress: () => undefined, problem: () => undefined },
      });
      expect(report.errors).toBe(0);
      expect(report.snapshots).toBe(1);
      const [kept] = await repo.listSnapshots();
      const target = join(dir, "restored-after-prune");
      await restoreAll({ repo, snapshot: kept!, target, sink });
      expect(directoryDifferences(source, target)).toEqual([]);
    } finally {
      cache.close();
      await store.close();
    }
  });
});
