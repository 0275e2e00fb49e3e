/**
 * A changed large file that an earlier run recorded is digested in a sealing worker (its ids,
 * lengths and SHA-256 computed there, beside the walk), and only the chunks the repository
 * lacks are read back on the main thread. The ids must be exactly those of the main thread's
 * own chunking, and the snapshot exactly the one a backup without workers makes.
 *
 * The pool needs the compiled worker script, so this test loads the built dist/.
 */
import { createHash } from "node:crypto";
import { readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, runCli } from "../helpers/cli.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const MiB = 1024 * 1024;

interface Digest {
  ids: Uint8Array;
  lengths: number[];
  sha256: Uint8Array;
  size: number;
}
interface Pool {
  readonly started: boolean;
  digest(path: Uint8Array): Promise<Digest>;
  close(): Promise<void>;
}
interface Repo {
  gear: Int32Array;
  config: { chunker: unknown };
  blobId(plaintext: Uint8Array): Uint8Array;
}

async function fromDist<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(`${PROJECT_ROOT}dist/${path}`).href)) as T;
}

/** `source` with one byte inserted at `at`, as an editor that saves a whole new file would. */
function withInsertedByte(source: Buffer, at: number): Buffer {
  return Buffer.concat([
    source.subarray(0, at),
    Buffer.from([0x42]),
    source.subarray(at),
  ]);
}

describe("digesting a changed file in a worker", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("gives the main thread's chunk ids, lengths and SHA-256; read errors carry the errno code", async () => {
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
      const digest = await pool!.digest(Buffer.from(file));
      expect(pool!.started).toBe(true);
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
      expect(Buffer.from(digest.sha256).toString("hex")).toBe(
        createHash("sha256").update(data).digest("hex"),
      );
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
      "engine/backup/archiver.js",
    );
    const { SealPool } = await fromDist<{
      SealPool: {
        prototype: {
          digest: (this: unknown, path: Uint8Array) => Promise<Digest>;
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
      SealPool.prototype.digest = async function (path: Uint8Array) {
        const result = await digest.call(this, path);
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
