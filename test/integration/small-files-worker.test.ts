/**
 * Small files read whole in batches are digested in a sealing worker: each one-chunk file's id
 * and checksum are computed there and its blob sealed ahead, and the blob saver takes that
 * blob instead of sealing it again. The ids, checksums and snapshot must be exactly those of a
 * backup without workers.
 *
 * The pool needs the compiled worker script, so this test loads the built dist/.
 */
import { writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromDist } from "../helpers/cli.js";
import { FAST_SCRYPT } from "../helpers/constants.js";
import { seededBytes } from "../helpers/prng.js";
import {
  buildManyFilesTree,
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";

interface Repo {
  config: { chunker: { minSize: number } };
  blobId(plaintext: Uint8Array): Uint8Array;
  fileChecksum(
    size: number,
    content: Uint8Array[],
  ): { kind: string; digest: Uint8Array };
  open(kind: string, id: Uint8Array, bytes: Uint8Array): Uint8Array;
  listSnapshots(): Promise<unknown[]>;
}
interface DigestedFile {
  plaintext: Uint8Array;
  id: Uint8Array;
  checksum: Uint8Array;
}
interface Pool {
  digestSmallFiles(
    plaintexts: Uint8Array,
    offsets: Uint32Array,
    lengths: Int32Array,
    compression: string,
  ): Promise<{
    plaintexts: Uint8Array;
    files: (DigestedFile | undefined)[];
  }>;
  sealMany(
    blobs: { kind: string; id: Uint8Array; plaintext: Uint8Array }[],
    compression: string,
  ): Promise<Uint8Array[]>;
  close(): Promise<void>;
}

async function newRepository(): Promise<Repo> {
  const { Repository } = await fromDist<{
    Repository: {
      create(
        store: unknown,
        passphrase: Uint8Array,
        options: unknown,
      ): Promise<Repo>;
    };
  }>("repo/index.js");
  const { MemoryStore } = await fromDist<{ MemoryStore: new () => unknown }>(
    "store/index.js",
  );
  return await Repository.create(new MemoryStore(), Buffer.from("pw"), {
    scrypt: FAST_SCRYPT,
  });
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

describe("small files digested in a worker", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("gives the main thread's ids and checksums, and sealMany() takes each blob sealed ahead once", async () => {
    const { SealPool } = await fromDist<{
      SealPool: { start(repo: Repo, count: number): Pool | undefined };
    }>("engine/backup/seal-pool.js");
    const repo = await newRepository();
    const files = [
      seededBytes(1, 700),
      seededBytes(2, 50),
      seededBytes(3, 300),
    ];
    // A buffer of its own, as SmallFileBatches allocates it, so that it can be transferred.
    const batch = Buffer.allocUnsafeSlow(1050);
    Buffer.concat(files).copy(batch);
    const offsets = Uint32Array.from([0, 700, 750]);
    // The second file is passed over (not read whole): no digest, nothing sealed.
    const lengths = Int32Array.from([700, -1, 300]);
    const posted: unknown[] = [];
    // Every message to a worker is counted: a blob taken as sealed ahead costs none.
    const post = Reflect.get(Worker.prototype, "postMessage") as (
      this: Worker,
      ...args: Parameters<Worker["postMessage"]>
    ) => void;
    Worker.prototype.postMessage = function (this: Worker, ...args) {
      posted.push(args[0]);
      post.apply(this, args);
    };
    const pool = SealPool.start(repo, 1)!;
    try {
      const digest = await pool.digestSmallFiles(
        batch,
        offsets,
        lengths,
        "auto",
      );
      // The buffer went to the worker and came back.
      expect(batch.byteLength).toBe(0);
      expect(hex(digest.plaintexts)).toBe(hex(Buffer.concat(files)));
      expect(digest.files[1]).toBeUndefined();
      for (const index of [0, 2]) {
        const file = digest.files[index]!;
        const data = files[index]!;
        expect(hex(file.plaintext)).toBe(hex(data));
        expect(hex(file.id)).toBe(hex(repo.blobId(data)));
        expect(hex(file.checksum)).toBe(
          hex(repo.fileChecksum(data.length, [repo.blobId(data)]).digest),
        );
      }
      expect(posted).toHaveLength(1);
      const first = digest.files[0]!;
      const blobs = [
        { kind: "data", id: first.id, plaintext: first.plaintext },
      ];
      const [ahead] = await pool.sealMany(blobs, "auto");
      // Taken as sealed ahead: no message to the worker.
      expect(posted).toHaveLength(1);
      expect(hex(repo.open("data", first.id, ahead!))).toBe(hex(files[0]!));
      // Once: asked again, the blob is sealed anew, in the worker.
      const [again] = await pool.sealMany(blobs, "auto");
      expect(posted).toHaveLength(2);
      expect(hex(again!)).not.toBe(hex(ahead!));
      expect(hex(repo.open("data", first.id, again!))).toBe(hex(files[0]!));
      // Sealed ahead with another compression mode, a blob is sealed again.
      const third = digest.files[2]!;
      await pool.sealMany(
        [{ kind: "data", id: third.id, plaintext: third.plaintext }],
        "off",
      );
      expect(posted).toHaveLength(3);
    } finally {
      Worker.prototype.postMessage = post;
      await pool.close();
    }
  });

  it("backs up the snapshot a backup without workers makes, without hashing small files on the main thread", async () => {
    type Backup = (options: Record<string, unknown>) => Promise<{
      snapshot: { tree: Uint8Array };
    }>;
    const { backup } = await fromDist<{ backup: Backup }>(
      "engine/backup/index.js",
    );
    const { ClientCache, headOf } = await fromDist<{
      ClientCache: { open(root: string, location: string): { close(): void } };
      headOf: (snapshots: unknown[]) => unknown;
    }>("repo/index.js");
    const { restoreSnapshot } = await fromDist<{
      restoreSnapshot: (options: Record<string, unknown>) => Promise<unknown>;
    }>("engine/index.js");
    const source = join(work, "source");
    await mkdir(source);
    await buildManyFilesTree(source, { files: 120, dirs: 3, seed: 5 });
    // An empty file and one past the batches' bound take the other routes beside them.
    writeFileSync(join(source, "empty"), "");
    writeFileSync(join(source, "large.bin"), seededBytes(9, 200 * 1024));
    const quiet = { progress: () => undefined, warn: () => undefined };
    const repo = await newRepository();
    const blobId = repo.blobId.bind(repo);
    const runWith = async (workers: string) => {
      const saved = process.env.BLINDSYNC_WORKERS;
      process.env.BLINDSYNC_WORKERS = workers;
      const cache = ClientCache.open(join(work, `cache-${workers}`), workers);
      let ids = 0;
      repo.blobId = (plaintext) => {
        ids += 1;
        return blobId(plaintext);
      };
      try {
        const { snapshot } = await backup({
          repo,
          cache,
          head: headOf(await repo.listSnapshots()),
          sources: [source],
          sink: quiet,
        });
        return { snapshot, ids };
      } finally {
        repo.blobId = blobId;
        if (saved === undefined) delete process.env.BLINDSYNC_WORKERS;
        else process.env.BLINDSYNC_WORKERS = saved;
        cache.close();
      }
    };
    const withWorker = await runWith("1");
    const without = await runWith("0");
    expect(hex(withWorker.snapshot.tree)).toBe(hex(without.snapshot.tree));
    // Without the worker every file's id and checksum is computed here; with it, only the
    // trees', the empty file's and the large file's.
    expect(without.ids).toBeGreaterThan(120);
    expect(withWorker.ids).toBeLessThan(12);
    const target = join(work, "restored");
    await restoreSnapshot({
      repo,
      snapshot: withWorker.snapshot,
      target,
      sink: quiet,
    });
    // The engine's restore leaves the root's own times to the command: entries only.
    expect(treeDifferences(describeTree(source), describeTree(target))).toEqual(
      [],
    );
  });
});
