import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import {
  MAX_SEMI_SPACE_BYTES,
  capYoungGeneration,
  growthFactorFor,
  semiSpaceBytes,
  uncapYoungGeneration,
  youngGenerationGrowthFactor,
} from "./young-generation.js";

/**
 * Keeps about 16 MiB of short-lived objects alive across scavenges, the pattern that makes V8
 * grow its new space to the top (16 MiB semi-spaces) when nothing caps it; yields to the event
 * loop now and then, as the backup's walk does, so that the collection observer runs.
 */
async function promoteGarbage(): Promise<void> {
  let kept: object[] = [];
  for (let index = 0; index < 400_000; index++) {
    kept.push({ index, name: `entry ${String(index)}` });
    if (kept.length > 200_000) kept = kept.slice(100_000);
    if (index % 10_000 === 0)
      await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("growthFactorFor()", () => {
  it("stops at the cap and doubles below it, as V8 does", () => {
    expect(growthFactorFor(MAX_SEMI_SPACE_BYTES)).toBe(1);
    expect(growthFactorFor(4 * MAX_SEMI_SPACE_BYTES)).toBe(1);
    expect(growthFactorFor(MAX_SEMI_SPACE_BYTES / 2)).toBe(2);
    expect(growthFactorFor(MAX_SEMI_SPACE_BYTES / 8)).toBe(2);
  });
});

describe("capYoungGeneration()", () => {
  afterEach(() => {
    uncapYoungGeneration();
  });

  it("keeps the new space at the cap, also after a worker's start reset V8's flag", async () => {
    // A fresh test process: the cap stops growth, it could not shrink a grown space.
    const before = semiSpaceBytes();
    expect(before).toBeLessThanOrEqual(MAX_SEMI_SPACE_BYTES);
    capYoungGeneration();
    // A new isolate puts --semi-space-growth-factor back to 2 for the whole process.
    const worker = new Worker("", { eval: true });
    await new Promise((resolve) => worker.once("exit", resolve));
    await promoteGarbage();
    expect(semiSpaceBytes()).toBeLessThanOrEqual(MAX_SEMI_SPACE_BYTES);
    expect(youngGenerationGrowthFactor()).toBe(1);
  });

  it("lets V8 grow the new space again once uncapped", async () => {
    capYoungGeneration();
    uncapYoungGeneration();
    expect(youngGenerationGrowthFactor()).toBe(2);
    await promoteGarbage();
    expect(semiSpaceBytes()).toBeGreaterThan(MAX_SEMI_SPACE_BYTES);
  });
});
