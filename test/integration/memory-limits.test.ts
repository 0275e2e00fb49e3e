/**
 * The memory bounds of a backup of many files (issue 20, docs/performance.md "Memory with many
 * files"): each sealing worker starts with a bounded young generation, and the CLI keeps V8's
 * heap near its live data. Both load the built dist/: the pool needs the compiled worker script,
 * and the heap's growing factor is a process-wide flag, measured in a child of its own.
 */
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT, fromDist } from "../helpers/cli.js";

interface Pool {
  seal(kind: string, id: Uint8Array, plaintext: Uint8Array): Promise<unknown>;
  readonly workerLimits: { maxYoungGenerationSizeMb?: number }[];
  close(): Promise<void>;
}

describe("memory bounds of a backup", () => {
  it("starts each sealing worker with the bounded young generation", async () => {
    const { SealPool, WORKER_YOUNG_GENERATION_MB } = await fromDist<{
      SealPool: { start(repo: unknown, count: number): Pool | undefined };
      WORKER_YOUNG_GENERATION_MB: number;
    }>("engine/backup/seal-pool.js");
    const { Repository } = await fromDist<{
      Repository: {
        create(
          store: unknown,
          passphrase: Uint8Array,
          options: unknown,
        ): Promise<{ blobId(plaintext: Uint8Array): Uint8Array }>;
      };
    }>("repo/index.js");
    const { MemoryStore } = await fromDist<{ MemoryStore: new () => unknown }>(
      "store/index.js",
    );
    const repo = await Repository.create(new MemoryStore(), Buffer.from("pw"), {
      scrypt: { logN: 15, r: 8, p: 1 },
    });
    const pool = SealPool.start(repo, 1);
    if (pool === undefined)
      throw new Error("The built worker script is missing");
    try {
      const plaintext = Buffer.from("a small file");
      await pool.seal("data", repo.blobId(plaintext), plaintext);
      expect(WORKER_YOUNG_GENERATION_MB).toBeLessThanOrEqual(8);
      expect(pool.workerLimits.map((l) => l.maxYoungGenerationSizeMb)).toEqual([
        WORKER_YOUNG_GENERATION_MB,
      ]);
    } finally {
      await pool.close();
    }
  });

  it("keeps the heap near its live data while garbage is promoted (limitHeapGrowth)", () => {
    // About 40 MiB live, then records that each survive many scavenges (a window of recent
    // ones, as a backup's batches and files-cache records do) and then die. The young
    // generation is kept small so that the old one is what is measured. Without
    // limitHeapGrowth() the committed heap peaked at 3.2-3.6 times the live data here; with
    // it, at 1.4 times.
    const heapGrowth = pathToFileURL(`${PROJECT_ROOT}dist/util/heap-growth.js`);
    const churn = `
      const { limitHeapGrowth } = await import(${JSON.stringify(heapGrowth.href)});
      limitHeapGrowth();
      const live = Array.from({ length: 100_000 }, (_, i) => ({ i, pad: new Array(8).fill(i) }));
      const window = new Array(100_000);
      let peak = 0;
      for (let round = 0; round < 1_000_000; round++) {
        window[round % window.length] = { round, name: "record " + round, ids: [round, 1, 2] };
        if (round % 10_000 === 0) peak = Math.max(peak, process.memoryUsage().heapTotal);
      }
      globalThis.gc();
      const used = process.memoryUsage().heapUsed;
      console.log(JSON.stringify({ ratio: peak / used, kept: live.length + window.length }));
    `;
    const child = spawnSync(
      process.execPath,
      [
        "--expose-gc",
        "--max-semi-space-size=1",
        "--input-type=module",
        "-e",
        churn,
      ],
      { encoding: "utf8" },
    );
    expect(child.stderr).toBe("");
    const { ratio } = JSON.parse(child.stdout) as { ratio: number };
    expect(ratio).toBeLessThan(2);
  });
});
