/**
 * A changed large file that an earlier run recorded is digested in a sealing worker (its ids,
 * and lengths computed there, beside the walk), and only the chunks the repository
 * lacks are read back on the main thread. The ids must be exactly those of the main thread's
 * own chunking, and the snapshot exactly the one a backup without workers makes.
 *
 * The pool needs the compiled worker script, so this test loads the built dist/.
 */
import { readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromDist, runCli } from "../helpers/cli.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const MiB = 1024 * 1024;

interface Digest {
  ids: Uint8Array;
  lengths: number[];
  size: number;
  carried: { index: number; bytes: Uint8Array }[];
}
interface Pool {
  readonly started: boolean;
  digest(
    path: Uint8Array,
    carry?: { recorded: Uint8Array; maxBytes: number },
  ): Promise<Digest | undefined>;
  close(): Promise<void>;
}
interface Repo {
  gear: Int32Array;
  config: { chunker: unknown };
  blobId(plaintext: Uint8Array): Uint8Array;
}

/** `source` with one byte inserted at `at`, as an editor that saves a whole new file would. */
function withInsertedByte(source: Buffer, at: number): Buffer {
  return Buffer.concat([
    source.subarray(0, at),
    Buffer.from([0x42]),
    source.subarray(at),
  ]);
}

/**
 * In-process backups of one file through the built engine with one worker: each run writes the
 * file, backs it up, restores it, and says how many data-sized ids the main thread computed.
 * `digests()` lists what each worker digest answered.
 */
async function inProcessBackups(name: string) {
  type Backup = (options: Record<string, unknown>) => Promise<{
    snapshot?: unknown;
  }>;
  const { backup } = await fromDist<{ backup: Backup }>(
    "engine/backup/index.js",
  );
  const { SealPool } = await fromDist<{
    SealPool: {
      prototype: {
        digest: (this: unknown, ...args: unknown[]) => Promise<unknown>;
      };
    };
  }>("engine/backup/seal-pool.js");
  const { Repository, ClientCache, headOf } = await fromDist<{
    Repository: {
      create(
        store: unknown,
        passphrase: Uint8Array,
        options: unknown,
      ): Promise<Repo & { listSnapshots(): Promise<unknown[]> }>;
    };
    ClientCache: { open(root: string, location: string): { close(): void } };
    headOf: (snapshots: unknown[]) => unknown;
  }>("repo/index.js");
  const { MemoryStore } = await fromDist<{ MemoryStore: new () => unknown }>(
    "store/index.js",
  );
  const { restoreSnapshot } = await fromDist<{
    restoreSnapshot: (options: Record<string, unknown>) => Promise<unknown>;
  }>("engine/index.js");
  const { mkdir } = await import("node:fs/promises");
  const repo = await Repository.create(new MemoryStore(), Buffer.from("pw"), {
    scrypt: { logN: 15, r: 8, p: 1 },
  });
  const source = join(work(), `${name}-source`);
  await mkdir(source, { recursive: true });
  const quiet = { progress: () => undefined, warn: () => undefined };
  const answers: string[] = [];
  let runs = 0;
  const runInProcess = async (data: Buffer) => {
    writeFileSync(join(source, "big.bin"), data);
    const blobId = repo.blobId.bind(repo);
    const digest = SealPool.prototype.digest;
    const workers = process.env.BLINDSYNC_WORKERS;
    const cache = ClientCache.open(join(work(), `${name}-cache`), name);
    let dataIds = 0;
    // 64 KiB: above any tree here, below the chunker's smallest chunk.
    repo.blobId = (plaintext) => {
      if (plaintext.length >= 64 * 1024) dataIds += 1;
      return blobId(plaintext);
    };
    SealPool.prototype.digest = async function (...args: unknown[]) {
      const answer = (await digest.apply(this, args)) as
        { carried: unknown[] } | undefined;
      answers.push(answer === undefined ? "too new" : "carried");
      return answer;
    };
    process.env.BLINDSYNC_WORKERS = "1";
    let result;
    try {
      result = await backup({
        repo,
        cache,
        head: headOf(await repo.listSnapshots()),
        sources: [source],
        sink: quiet,
      });
    } finally {
      delete (repo as Partial<Repo>).blobId;
      SealPool.prototype.digest = digest;
      if (workers === undefined) delete process.env.BLINDSYNC_WORKERS;
      else process.env.BLINDSYNC_WORKERS = workers;
      cache.close();
    }
    const target = join(work(), `${name}-restored-${++runs}`);
    await mkdir(target);
    await restoreSnapshot({
      repo,
      snapshot: result.snapshot,
      target,
      sink: quiet,
    });
    return { dataIds, restored: readFileSync(join(target, "big.bin")) };
  };
  return { runInProcess, digests: () => answers };
}

let workDir: string | undefined;
function work(): string {
  if (workDir === undefined) throw new Error("no work directory yet");
  return workDir;
}

describe("digesting a changed file in a worker", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir();
    workDir = work;
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("gives the main thread's chunk ids and lengths; read errors carry the errno code", async () => {
    const { SealPool } = await fromDist<{
      SealPool: { start(repo: Repo, count: number): Pool | undefined };
    }>("engine/backup/seal-pool.js");
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
    const { chunkBuffer } = await fromDist<{
      chunkBuffer: (
        gear: Int32Array,
        params: unknown,
        data: Uint8Array,
      ) => number[];
    }>("chunker/index.js");
    const repo = await Repository.create(new MemoryStore(), Buffer.from("pw"), {
      scrypt: { logN: 15, r: 8, p: 1 },
    });
    const data = seededBytes(11, 21 * MiB + 12_345);
    const file = join(work, "big.bin");
    writeFileSync(file, data);
    symlinkSync(file, join(work, "link"));
    const pool = SealPool.start(repo, 1);
    expect(pool).toBeDefined();
    try {
      // A backup that finds nothing changed posts no job: its workers must not start at all.
      expect(pool!.started).toBe(false);
      const digest = (await pool!.digest(Buffer.from(file)))!;
      expect(pool!.started).toBe(true);
      // Asked for no bytes, it carries none.
      expect(digest.carried).toEqual([]);
      const lengths = chunkBuffer(repo.gear, repo.config.chunker, data);
      expect(lengths.length).toBeGreaterThan(3);
      expect(digest.lengths).toEqual(lengths);
      let offset = 0;
      const ids = lengths.map((length) => {
        const id = repo.blobId(data.subarray(offset, offset + length));
        offset += length;
        return Buffer.from(id).toString("hex");
      });
      const got = lengths.map((_, index) =>
        Buffer.from(digest.ids.subarray(index * 32, index * 32 + 32)).toString(
          "hex",
        ),
      );
      expect(got).toEqual(ids);
      expect(digest.size).toBe(data.length);
      await expect(
        pool!.digest(Buffer.from(join(work, "missing"))),
      ).rejects.toMatchObject({
        code: "ENOENT",
      });
      // Opened O_NOFOLLOW, like the main thread: a symlink swapped in is refused.
      await expect(
        pool!.digest(Buffer.from(join(work, "link"))),
      ).rejects.toMatchObject({
        code: "ELOOP",
      });
    } finally {
      await pool!.close();
    }
  });

  it("reads a file again on the main thread when it changed while the worker digested it", async () => {
    type Backup = (options: Record<string, unknown>) => Promise<{
      snapshot?: { tree: Uint8Array };
    }>;
    const { backup } = await fromDist<{ backup: Backup }>(
      "engine/backup/index.js",
    );
    const { SealPool } = await fromDist<{
      SealPool: {
        prototype: {
          digest: (this: unknown, ...args: unknown[]) => Promise<Digest>;
        };
      };
    }>("engine/backup/seal-pool.js");
    const { Repository, ClientCache, headOf } = await fromDist<{
      Repository: {
        create(
          store: unknown,
          passphrase: Uint8Array,
          options: unknown,
        ): Promise<{ listSnapshots(): Promise<unknown[]> }>;
      };
      ClientCache: {
        open(root: string, location: string): { close(): void };
      };
      headOf: (snapshots: unknown[]) => unknown;
    }>("repo/index.js");
    const { MemoryStore } = await fromDist<{ MemoryStore: new () => unknown }>(
      "store/index.js",
    );
    const { restoreSnapshot } = await fromDist<{
      restoreSnapshot: (options: Record<string, unknown>) => Promise<{
        errors: number;
      }>;
    }>("engine/index.js");
    const repo = await Repository.create(new MemoryStore(), Buffer.from("pw"), {
      scrypt: { logN: 15, r: 8, p: 1 },
    });
    const source = join(work, "changing");
    const file = join(source, "big.bin");
    const { mkdir, appendFile } = await import("node:fs/promises");
    await mkdir(source, { recursive: true });
    const original = seededBytes(23, 12 * MiB);
    writeFileSync(file, original);
    const cache = ClientCache.open(join(work, "cache-changing"), "changing");
    const quiet = { progress: () => undefined, warn: () => undefined };
    const digest = SealPool.prototype.digest;
    const workers = process.env.BLINDSYNC_WORKERS;
    // One worker whatever the machine's cores, so the changed file goes to it.
    process.env.BLINDSYNC_WORKERS = "1";
    const run = async () =>
      backup({
        repo,
        cache,
        head: headOf(await repo.listSnapshots()),
        sources: [source],
        sink: quiet,
      });
    try {
      await run();
      // Changed, so the next run hands it to a worker; and changed again once the worker
      // has read it, before the main thread checks its identity: a write the worker missed.
      writeFileSync(file, withInsertedByte(original, 6 * MiB));
      let digested = 0;
      SealPool.prototype.digest = async function (...args: unknown[]) {
        const result = await digest.apply(this, args);
        digested += 1;
        await appendFile(file, "written while the worker read\n");
        return result;
      };
      const second = await run();
      expect(digested).toBe(1);
      const target = join(work, "changing-restored");
      await mkdir(target);
      const restored = await restoreSnapshot({
        repo,
        snapshot: second.snapshot,
        target,
        sink: quiet,
      });
      expect(restored.errors).toBe(0);
      // What the snapshot holds is the file as it was after the write, not as the worker saw it.
      expect(
        readFileSync(join(target, "big.bin")).equals(readFileSync(file)),
      ).toBe(true);
    } finally {
      SealPool.prototype.digest = digest;
      if (workers === undefined) delete process.env.BLINDSYNC_WORKERS;
      else process.env.BLINDSYNC_WORKERS = workers;
      cache.close();
    }
  });

  it("carries back exactly the chunks the earlier run did not record, and gives up past the bound", async () => {
    const { SealPool } = await fromDist<{
      SealPool: { start(repo: Repo, count: number): Pool | undefined };
    }>("engine/backup/seal-pool.js");
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
    const repo = await Repository.create(new MemoryStore(), Buffer.from("pw"), {
      scrypt: { logN: 15, r: 8, p: 1 },
    });
    const original = seededBytes(31, 20 * MiB);
    const file = join(work, "carried.bin");
    const pool = SealPool.start(repo, 1)!;
    try {
      writeFileSync(file, original);
      const before = (await pool.digest(Buffer.from(file)))!;
      const changed = withInsertedByte(
        withInsertedByte(original, 15 * MiB),
        3 * MiB,
      );
      writeFileSync(file, changed);
      const after = (await pool.digest(Buffer.from(file), {
        recorded: before.ids,
        maxBytes: 8 * MiB,
      }))!;
      const recorded = new Set(
        before.lengths.map((_, index) =>
          Buffer.from(
            before.ids.subarray(index * 32, index * 32 + 32),
          ).toString("hex"),
        ),
      );
      let offset = 0;
      const expected: { index: number; bytes: string }[] = [];
      after.lengths.forEach((length, index) => {
        const id = Buffer.from(
          after.ids.subarray(index * 32, index * 32 + 32),
        ).toString("hex");
        if (!recorded.has(id))
          expected.push({
            index,
            bytes: changed.subarray(offset, offset + length).toString("hex"),
          });
        offset += length;
      });
      // Two edits: a chunk or two around each, not the whole file.
      expect(expected.length).toBeGreaterThanOrEqual(2);
      expect(expected.length).toBeLessThan(after.lengths.length / 2);
      expect(
        after.carried.map(({ index, bytes }) => ({
          index,
          bytes: Buffer.from(bytes).toString("hex"),
        })),
      ).toEqual(expected);
      // The same edits with room for less than their new chunks: the worker gives up.
      const carriedBytes = expected.reduce(
        (sum, { bytes }) => sum + bytes.length / 2,
        0,
      );
      expect(
        await pool.digest(Buffer.from(file), {
          recorded: before.ids,
          maxBytes: carriedBytes - 1,
        }),
      ).toBeUndefined();
    } finally {
      await pool.close();
    }
  });

  it("queues a changed file's new chunks as the worker read them: no chunk is read or hashed again on the main thread", async () => {
    const { runInProcess, digests } = await inProcessBackups("once");
    const data = seededBytes(41, 16 * MiB);
    await runInProcess(data);
    const edited = withInsertedByte(data, 9 * MiB);
    const second = await runInProcess(edited);
    expect(digests()).toEqual(["carried"]);
    // The main thread computed the ids of trees only (each far below the chunker's minimum).
    expect(second.dataIds).toBe(0);
    expect(second.restored.equals(edited)).toBe(true);
  });

  it("reads a changed file on the main thread when it holds more new data than a worker carries back", async () => {
    const { runInProcess, digests } = await inProcessBackups("all-new");
    await runInProcess(seededBytes(43, 24 * MiB));
    const rewritten = seededBytes(44, 24 * MiB);
    const second = await runInProcess(rewritten);
    expect(digests()).toEqual(["too new"]);
    expect(second.dataIds).toBeGreaterThan(10);
    expect(second.restored.equals(rewritten)).toBe(true);
  });

  it("makes the same snapshot as a backup without workers, uploading only the changed chunks", async () => {
    const source = join(work, "source");
    const repo = join(work, "repo");
    const cache = join(work, "cache-worker");
    const original = seededBytes(5, 24 * MiB);
    await import("node:fs/promises").then(async (fs) => {
      await fs.mkdir(source, { recursive: true });
      await fs.writeFile(join(source, "big.bin"), original);
      await fs.writeFile(join(source, "small.txt"), "small\n");
    });
    expect((await runCli(["init", repo], { cacheDir: cache })).code).toBe(0);
    const env = { BLINDSYNC_WORKERS: "1" };
    const first = await runCli(["backup", source, repo], {
      cacheDir: cache,
      env,
    });
    expect(first.code, first.stderr).toBe(0);

    writeFileSync(
      join(source, "big.bin"),
      withInsertedByte(original, 12 * MiB + 7),
    );
    const rerun = await runCli(["backup", source, repo, "--json"], {
      cacheDir: cache,
      env,
    });
    expect(rerun.code, rerun.stderr).toBe(0);
    const summary = JSON.parse(rerun.stdout.trim().split("\n").at(-1)!) as {
      snapshot: string;
      blobsAdded: number;
      bytesAdded: number;
    };
    // The chunk around the insertion (or two), plus the new root tree: not the whole file.
    expect(summary.blobsAdded).toBeGreaterThanOrEqual(2);
    expect(summary.bytesAdded).toBeLessThan(8 * MiB);

    const fresh = await runCli(["backup", source, repo, "--json"], {
      cacheDir: join(work, "cache-main-thread"),
      env: { BLINDSYNC_WORKERS: "0" },
    });
    expect(fresh.code, fresh.stderr).toBe(0);
    const snapshots = JSON.parse(
      (await runCli(["snapshots", repo, "--json"], { cacheDir: cache })).stdout,
    ) as { id: string; tree: string }[];
    const treeOf = (id: string): string | undefined =>
      snapshots.find((snapshot) => snapshot.id === id)?.tree;
    const freshId = (
      JSON.parse(fresh.stdout.trim().split("\n").at(-1)!) as {
        snapshot: string;
      }
    ).snapshot;
    expect(treeOf(summary.snapshot)).toBeDefined();
    expect(treeOf(summary.snapshot)).toBe(treeOf(freshId));
    const check = await runCli(["check", repo, "--read-data"], {
      cacheDir: cache,
    });
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });
});
