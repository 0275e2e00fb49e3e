/**
 * Restore hands files of 8 MiB or more to a writer thread (src/engine/file-writer-pool.ts),
 * which opens, hashes and writes their blobs while the main thread fetches. What it writes must
 * be exactly what the main thread would write, holes included, and a blob that does not open
 * must fail that file alone, leaving nothing under its name.
 *
 * The pool needs the compiled worker script, so this test loads the built dist/.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  blobRows,
  KIND,
  readStored,
  restoreDebris,
  writeStored,
} from "../adversarial/repo-surgery.js";
import { PROJECT_ROOT, runCli } from "../helpers/cli.js";
import {
  directoryDifferences,
  removeDir,
  seededBytes,
  tempDir,
} from "../helpers/trees.js";

const MiB = 1024 * 1024;

interface Sealed {
  id: Uint8Array;
  bytes: Uint8Array;
}
interface Repo {
  blobId(plaintext: Uint8Array): Uint8Array;
  seal(kind: "data", id: Uint8Array, plaintext: Uint8Array): Sealed;
  openerParams(): unknown;
}
interface WorkerFile {
  write(id: Uint8Array, stored: Uint8Array): Promise<number>;
  finish(): Promise<{ size: number; sha256: Uint8Array; writtenEnd: number }>;
  close(): Promise<void>;
}
interface Pool {
  open(fd: number, size: number): WorkerFile;
  close(): Promise<void>;
}

async function fromDist<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(`${PROJECT_ROOT}dist/${path}`).href)) as T;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

describe("restore's writer threads", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("write what they are given in order, and refuse a damaged blob or more data than recorded", async () => {
    const { FileWriterPool, BlobOpenFailure } = await fromDist<{
      FileWriterPool: {
        start(params: unknown, count: number): Pool | undefined;
      };
      BlobOpenFailure: new () => Error;
    }>("engine/file-writer-pool.js");
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
    const parts = [
      seededBytes(1, MiB + 5),
      Buffer.alloc(2 * MiB), // a hole
      seededBytes(2, 700_000),
    ];
    const sealed = parts.map((part) =>
      repo.seal("data", repo.blobId(part), part),
    );
    const whole = Buffer.concat(parts);
    const pool = FileWriterPool.start(repo.openerParams(), 1);
    expect(pool).toBeDefined();
    try {
      const path = join(work, "written.bin");
      const fd = openSync(path, "w");
      const file = pool!.open(fd, whole.length);
      const written = await Promise.all(
        // Copies: write() takes over a buffer of its own (it is transferred to the worker).
        sealed.map((blob) => file.write(blob.id, Uint8Array.from(blob.bytes))),
      );
      const result = await file.finish();
      await file.close();
      closeSync(fd);
      expect(written).toEqual(parts.map((part) => part.length));
      expect(result.size).toBe(whole.length);
      expect(hex(result.sha256)).toBe(
        createHash("sha256").update(whole).digest("hex"),
      );
      // The zero blob in the middle was left as a hole: the file ends at the third part.
      expect(result.writtenEnd).toBe(whole.length);
      expect(readFileSync(path).equals(whole)).toBe(true);
      expect(statSync(path).blocks * 512).toBeLessThan(whole.length - MiB);

      // A flipped byte fails authentication: a blob failure, and every later write of the
      // file fails alike, so nothing after it is written.
      const damaged = Uint8Array.from(sealed[0]!.bytes);
      damaged[damaged.length >> 1]! ^= 1;
      const fd2 = openSync(join(work, "damaged.bin"), "w");
      const file2 = pool!.open(fd2, whole.length);
      const first = file2.write(sealed[0]!.id, damaged);
      const second = file2.write(
        sealed[2]!.id,
        Uint8Array.from(sealed[2]!.bytes),
      );
      await expect(first).rejects.toBeInstanceOf(BlobOpenFailure);
      await expect(first).rejects.toMatchObject({
        cause: { kind: "integrity" },
      });
      await expect(second).rejects.toBeInstanceOf(BlobOpenFailure);
      await file2.close();
      closeSync(fd2);
      expect(statSync(join(work, "damaged.bin")).size).toBe(0);

      // A snapshot that records fewer bytes than its blobs hold is refused, not overrun.
      const fd3 = openSync(join(work, "short.bin"), "w");
      const file3 = pool!.open(fd3, MiB);
      await expect(
        file3.write(sealed[0]!.id, sealed[0]!.bytes),
      ).rejects.toThrow(/longer than the recorded size of 1048576 bytes/);
      await file3.close();
      closeSync(fd3);
    } finally {
      await pool!.close();
    }
  });

  it("restore the same tree as the main thread, and a damaged blob fails only its file", async () => {
    const source = join(work, "source");
    const repo = join(work, "repo");
    const cache = join(work, "cache");
    await mkdir(source, { recursive: true });
    await writeFile(join(source, "big.bin"), seededBytes(3, 20 * MiB + 777));
    await writeFile(
      join(source, "sparse.bin"),
      Buffer.concat([
        seededBytes(4, 3 * MiB),
        Buffer.alloc(6 * MiB),
        seededBytes(5, 3 * MiB),
      ]),
    );
    await writeFile(join(source, "small.txt"), "small\n");
    expect((await runCli(["init", repo], { cacheDir: cache })).code).toBe(0);
    const backup = await runCli(["backup", source, repo], { cacheDir: cache });
    expect(backup.code, backup.stderr).toBe(0);

    const restoreWith = (workers: string, target: string) =>
      runCli(["restore", repo, target], {
        cacheDir: cache,
        env: { BLINDSYNC_WORKERS: workers },
      });
    const viaWorker = join(work, "via-worker");
    const restored = await restoreWith("1", viaWorker);
    expect(restored.code, restored.stderr).toBe(0);
    expect(directoryDifferences(source, viaWorker)).toEqual([]);
    const sparse = statSync(join(viaWorker, "sparse.bin"));
    expect(sparse.blocks * 512).toBeLessThan(sparse.size - 4 * MiB);
    const onMainThread = join(work, "main-thread");
    const reference = await restoreWith("0", onMainThread);
    expect(reference.code, reference.stderr).toBe(0);
    expect(directoryDifferences(source, onMainThread)).toEqual([]);

    // Damage one chunk of 512 KiB or more: it belongs to big.bin or sparse.bin, whichever it
    // is, that file fails (written by the worker) and the others are restored.
    const sparseBytes = readFileSync(join(source, "sparse.bin"));
    const big = readFileSync(join(source, "big.bin"));
    const candidates = blobRows(repo, KIND.data).filter(
      (row) => row.length > 512 * 1024,
    );
    expect(candidates.length).toBeGreaterThan(10);
    const stored = readStored(repo, candidates[0]!.id);
    const damaged = Buffer.from(stored);
    damaged[damaged.length >> 1]! ^= 1;
    writeStored(repo, candidates[0]!.id, damaged);
    const target = join(work, "after-damage");
    const failed = await restoreWith("1", target);
    expect(failed.code).not.toBe(0);
    const which = failed.stderr.includes('"big.bin"')
      ? "big.bin"
      : "sparse.bin";
    expect(failed.stderr).toMatch(
      new RegExp(
        `Cannot restore "${which}": data blob [0-9a-f]+ failed verification`,
      ),
    );
    expect(restoreDebris(target)).toEqual([]);
    expect(() => statSync(join(target, which))).toThrow();
    const other = which === "big.bin" ? "sparse.bin" : "big.bin";
    expect(
      readFileSync(join(target, other)).equals(
        other === "big.bin" ? big : sparseBytes,
      ),
    ).toBe(true);
    expect(readFileSync(join(target, "small.txt"), "utf8")).toBe("small\n");
  });
});
