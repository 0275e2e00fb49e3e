/**
 * Caps the main thread's young generation (V8's new space) while a backup runs.
 *
 * V8 sizes the new space at start-up, 1 MiB per semi-space growing to 16 MiB, and a backup's
 * walk promotes enough to grow it to the top: both semi-spaces are then committed and touched,
 * 32 MiB of the client's peak RSS for 4-8 MiB of live young objects (docs/performance.md,
 * "Memory of the initial backup, round three"). The cap can only be given on node's command line
 * (`--max-semi-space-size`), which the CLI does not own; but V8 reads its growth factor
 * (`--semi-space-growth-factor`) each time the new space grows, so setting the factor to 1 once
 * the semi-space has reached the cap stops it there, and setting it back to V8's 2 lets a new
 * space that V8 shrank meanwhile grow back to the cap. Both are checked after every collection,
 * and as soon as a worker thread is online: V8 puts the factor back to 2 whenever an isolate is
 * set up (`Heap::ConfigureHeap`), and the first collection after a sealing worker's start then
 * grew the space to 8 and 16 MiB (measured).
 *
 * The sealing workers need none of this: they start with a young generation of their own size
 * (engine/backup/seal-pool.ts).
 *
 * Shared leaf: imports nothing from any layer.
 */
import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import type { Worker } from "node:worker_threads";

/**
 * Largest semi-space kept while capped. At 4 MiB a backup took the same CPU as with V8's 16 MiB
 * (scavenges are four times as frequent, each as cheap: their cost is the survivors, not the
 * space) and its peak RSS was 19 MiB lower through `serve` and 33 MiB lower with 50,000 small
 * files (docs/performance.md).
 */
export const MAX_SEMI_SPACE_BYTES = 4 * 1024 * 1024;
/** V8's default `--semi-space-growth-factor`: each growth doubles the semi-space. */
const V8_GROWTH_FACTOR = 2;

let observer: PerformanceObserver | undefined;
/** Refits once a worker has started: its isolate's set-up put the factor back to 2. */
const refitWhenOnline = (worker: Worker): void => {
  worker.once("online", fit);
};
/** The factor last set; V8's own until the first fit. */
let growthFactor = V8_GROWTH_FACTOR;

/** One semi-space's size now: the new space commits two of them. */
export function semiSpaceBytes(): number {
  const space = getHeapSpaceStatistics().find(
    (entry) => entry.space_name === "new_space",
  );
  return space === undefined ? 0 : space.space_size / 2;
}

/** Set every time, not only on a change: an isolate's set-up may have reset it meanwhile. */
function setGrowthFactor(factor: number): void {
  setFlagsFromString(`--semi-space-growth-factor=${String(factor)}`);
  growthFactor = factor;
}

/**
 * The factor for a semi-space of `bytes`: 1 at the cap, V8's own doubling below it (semi-spaces
 * are powers of two from 1 MiB, so doubling lands on the cap; a larger factor from a reading
 * taken while only one semi-space was committed, half the size, overshot it).
 */
export function growthFactorFor(bytes: number): number {
  return bytes >= MAX_SEMI_SPACE_BYTES ? 1 : V8_GROWTH_FACTOR;
}

/** Stops the growth at the cap, lets a smaller space grow to it. */
function fit(): void {
  setGrowthFactor(growthFactorFor(semiSpaceBytes()));
}

/** Caps the young generation from now on, checked after every collection; idempotent. */
export function capYoungGeneration(): void {
  fit();
  if (observer !== undefined) return;
  observer = new PerformanceObserver(fit);
  observer.observe({ entryTypes: ["gc"] });
  process.on("worker", refitWhenOnline);
}

/** V8's own growth again (for tests, which share one process). */
export function uncapYoungGeneration(): void {
  observer?.disconnect();
  observer = undefined;
  process.off("worker", refitWhenOnline);
  setGrowthFactor(V8_GROWTH_FACTOR);
}

/** The growth factor set now: 1 while a capped space is at the cap. */
export function youngGenerationGrowthFactor(): number {
  return growthFactor;
}
