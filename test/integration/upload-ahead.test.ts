/**
 * The blob saver (blob-saver.ts) seals a batch while it asks the store which of its blobs are
 * missing, as long as every earlier answer said "all of them". What is stored must still
 * follow the answer alone, and a store that already holds the data (another client's, or a
 * lost cache) must stop the sealing ahead after the batches already under way.
 *
 * The seal pool needs the compiled worker script, so this test loads the built dist/.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromDist } from "../helpers/cli.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const MiB = 1024 * 1024;

interface Store {
  missing(ids: readonly Uint8Array[]): Promise<Uint8Array[]>;
}
interface Repo {
  readonly store: Store;
  blobId(plaintext: Uint8Array): Uint8Array;
  load(kind: "data", id: Uint8Array): Promise<Uint8Array>;
}
interface Pool {
  close(): Promise<void>;
}
interface Cache {
  close(): void;
}
interface Stats {
  blobsAdded: number;
  bytesAdded: number;
  blobsSealedInVain: number;
}
interface Uploader {
  readonly stats: Stats;
  add(kind: "data", id: Uint8Array, plaintext: Uint8Array): Promise<void>;
  flush(): Promise<void>;
}

describe("sealing ahead of the store's answer", () => {
  let work: string;
  let repo: Repo;
  let pool: Pool;
  let newUploader: (cacheName: string) => { uploader: Uploader; cache: Cache };
  /** 1 MiB blobs: four fill one 4 MiB batch. */
  const blob = (seed: number): Buffer => seededBytes(seed, MiB);

  beforeAll(async () => {
    work = await tempDir("blindsync-upload-ahead-");
    const { SealPool } = await fromDist<{
      SealPool: { start(repo: Repo, count: number): Pool | undefined };
    }>("engine/backup/seal-pool.js");
    const { BlobSaver: Uploader } = await fromDist<{
      BlobSaver: new (repo: Repo, cache: Cache, options: object) => Uploader;
    }>("engine/backup/blob-saver.js");
    const { Repository, ClientCache } = await fromDist<{
      Repository: {
        create(store: unknown, pw: Uint8Array, options: object): Promise<Repo>;
      };
      ClientCache: { open(root: string, location: string): Cache };
    }>("repo/index.js");
    const { SqliteStore } = await fromDist<{
      SqliteStore: { open(dir: string, options: object): Promise<unknown> };
    }>("store/index.js");
    const store = await SqliteStore.open(join(work, "repo"), { create: true });
    repo = await Repository.create(store, Buffer.from("pw"), {
      scrypt: { logN: 15, r: 8, p: 1 },
    });
    const started = SealPool.start(repo, 1);
    if (started === undefined) throw new Error("the seal pool did not start");
    pool = started;
    newUploader = (cacheName) => {
      const cache = ClientCache.open(join(work, cacheName), "upload-ahead");
      return { uploader: new Uploader(repo, cache, { pool }), cache };
    };
  });
  afterAll(async () => {
    await pool.close();
    await removeDir(work);
  });

  async function upload(
    cacheName: string,
    seeds: readonly number[],
  ): Promise<Stats> {
    const { uploader, cache } = newUploader(cacheName);
    try {
      // A copy each time: the pool may take the buffer it is given to its worker.
      for (const seed of seeds)
        await uploader.add("data", repo.blobId(blob(seed)), blob(seed));
      await uploader.flush();
      return uploader.stats;
    } finally {
      cache.close();
    }
  }

  it("stores new data in full, nothing sealed in vain", async () => {
    const seeds = Array.from({ length: 24 }, (_, index) => index + 1);
    const stats = await upload("first-cache", seeds);
    expect(stats.blobsAdded).toBe(24);
    expect(stats.bytesAdded).toBe(24 * MiB);
    expect(stats.blobsSealedInVain).toBe(0);
    const ids = seeds.map((seed) => repo.blobId(blob(seed)));
    expect(await repo.store.missing(ids)).toEqual([]);
    for (const seed of [1, 13, 24])
      expect(
        Buffer.from(await repo.load("data", repo.blobId(blob(seed)))).equals(
          blob(seed),
        ),
      ).toBe(true);
  });

  it("sends only what the store lacks to a store that has the rest, and stops sealing ahead", async () => {
    // A fresh cache knows nothing: every blob reaches the store's question. The store has the
    // first 24 (the test above); 8 follow that it lacks.
    const old = Array.from({ length: 24 }, (_, index) => index + 1);
    const fresh = Array.from({ length: 8 }, (_, index) => 100 + index);
    const stats = await upload("second-cache", [...old, ...fresh]);
    expect(stats.blobsAdded).toBe(8);
    expect(stats.bytesAdded).toBe(8 * MiB);
    // At most the four batches of four under way before the first answer came back: not all
    // 24 (that would be sealing ahead regardless of the answers).
    expect(stats.blobsSealedInVain).toBeGreaterThan(0);
    expect(stats.blobsSealedInVain).toBeLessThanOrEqual(16);
    const freshIds = fresh.map((seed) => repo.blobId(blob(seed)));
    expect(await repo.store.missing(freshIds)).toEqual([]);
    for (const seed of fresh)
      expect(
        Buffer.from(await repo.load("data", repo.blobId(blob(seed)))).equals(
          blob(seed),
        ),
      ).toBe(true);
  });
});
