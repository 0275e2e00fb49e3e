/**
 * Sealing workers started before the repository unlocks (WarmWorkers) get the repository's
 * parameters from the pool that takes them: what they seal opens under the repository's keys,
 * exactly as from a worker the pool started itself, and a backup that starts them works the
 * same whether or not it seals anything.
 *
 * The pool needs the compiled worker script, so this test loads the built dist/.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromDist, runCli } from "../helpers/cli.js";
import { FAST_SCRYPT } from "../helpers/constants.js";
import { removeDir, tempDir } from "../helpers/trees.js";

interface Repo {
  blobId(plaintext: Uint8Array): Uint8Array;
  open(kind: string, id: Uint8Array, bytes: Uint8Array): Uint8Array;
}
interface Pool {
  readonly started: boolean;
  seal(
    kind: string,
    id: Uint8Array,
    plaintext: Uint8Array,
  ): Promise<Uint8Array>;
  sealMany(
    blobs: { kind: string; id: Uint8Array; plaintext: Uint8Array }[],
    compression: string,
  ): Promise<Uint8Array[]>;
  close(): Promise<void>;
}
interface Warm {
  take(): unknown[];
  close(): Promise<void>;
}
interface Backup {
  SealPool: { start(repo: Repo, count: number, warm?: Warm): Pool | undefined };
  WarmWorkers: { start(count: number): Warm | undefined };
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

describe("sealing workers started ahead of the keys", () => {
  it("seal blobs that open under the repository's keys once a pool takes them", async () => {
    const { SealPool, WarmWorkers } = await fromDist<Backup>(
      "engine/backup/index.js",
    );
    const warm = WarmWorkers.start(1);
    if (warm === undefined)
      throw new Error("The built worker script is missing");
    // The keys exist only now, after the workers started (as after a KDF).
    const repo = await newRepository();
    const pool = SealPool.start(repo, 1, warm);
    if (pool === undefined) throw new Error("No pool");
    try {
      const one = Buffer.from("one blob, sealed by a worker started ahead");
      const sealed = await pool.seal("data", repo.blobId(one), one);
      expect(Buffer.from(repo.open("data", repo.blobId(one), sealed))).toEqual(
        one,
      );
      const many = ["a", "bb", "ccc"].map((text) => {
        const plaintext = Buffer.from(text.repeat(100));
        return { kind: "data", id: repo.blobId(plaintext), plaintext };
      });
      const batch = await pool.sealMany(many, "auto");
      batch.forEach((bytes, index) => {
        const blob = many[index];
        if (blob === undefined) throw new Error("missing blob");
        expect(Buffer.from(repo.open("data", blob.id, bytes))).toEqual(
          blob.plaintext,
        );
      });
      // The pool took them: nothing is left for the starter to close.
      expect(warm.take()).toEqual([]);
    } finally {
      await pool.close();
      await warm.close();
    }
  });

  it("are ended by close() when no pool takes them", async () => {
    const { WarmWorkers } = await fromDist<Backup>("engine/backup/index.js");
    const warm = WarmWorkers.start(2);
    if (warm === undefined)
      throw new Error("The built worker script is missing");
    const workers = warm.take() as {
      threadId: number;
      terminate(): Promise<number>;
    }[];
    expect(workers).toHaveLength(2);
    for (const worker of workers) await worker.terminate();
    // Taken once: a second take and a close find nothing.
    expect(warm.take()).toEqual([]);
    await warm.close();
  });
});

describe("backups that start their sealing workers ahead", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("back up, find nothing changed, and restore the same tree", async () => {
    const repo = join(work, "repo");
    const source = join(work, "source");
    const cacheDir = join(work, "cache");
    expect((await runCli(["init", repo], { cacheDir })).code).toBe(0);
    mkdirSync(join(source, "lib"), { recursive: true });
    for (let index = 0; index < 40; index++)
      writeFileSync(
        join(source, "lib", `file-${index}.js`),
        `export const value${index} = "${"x".repeat(2000 + index)}";\n`,
      );
    const first = await runCli(["backup", source, repo], { cacheDir });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/40 new/);
    // Nothing changed: no pool takes the warm worker, which must not keep the process alive.
    const second = await runCli(["backup", source, repo], { cacheDir });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/40 unchanged/);
    const target = join(work, "restored");
    const restored = await runCli(["restore", repo, target], { cacheDir });
    expect(restored.code, restored.stderr).toBe(0);
    for (let index = 0; index < 40; index++)
      expect(
        readFileSync(join(target, "lib", `file-${index}.js`), "utf8"),
      ).toBe(readFileSync(join(source, "lib", `file-${index}.js`), "utf8"));
  });
});
