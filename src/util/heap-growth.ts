/**
 * Keeps V8's old generation close to what is live. By default V8 lets a heap grow to up to
 * four times its live data before the next full collection, and a backup of many small files
 * promotes garbage at a high rate (blob batches, files-cache records and tree entries live long
 * enough to survive two scavenges): with about 25 MiB live, the main thread's heap reached
 * 90-115 MiB committed, a third of the client's peak RSS (docs/performance.md, "Memory with
 * many files"). A growing factor of 1.25 keeps the committed heap near 1.25 times the live data.
 *
 * V8 reads this flag when it sets the next collection's limit, after every full collection, so
 * setting it at start-up, before anything is allocated in earnest, takes effect for the whole
 * run; workers started later share the process's flags. Node warns that flags set after start
 * may do nothing: the worst case is the default heap growth, not a failure.
 *
 * A small heap needs more than a factor, though: V8 starts marking again as soon as the room
 * left under the limit is smaller than the young generation (16 MiB), so with 10 MiB live and
 * any factor below about 3 a restore ran a full collection every 100 ms, 80-110 of them, a
 * fifth of its CPU (docs/performance.md, "Restore CPU, round two"), and a backup of 40,000
 * small files (40-46 MiB live, 10-11 MiB of room at 1.25) ran 41 full collections in 19 s,
 * 2.9 s of its main thread's CPU ("Memory of the initial backup, round two"). So the factor is
 * recomputed after each full collection from the live data then, to leave at least
 * MIN_ROOM_BYTES (a little more than the young generation) above it, and `withHeapHeadroom`
 * gives a stretch of work a larger headroom, HEADROOM_BYTES.
 *
 * Shared leaf: imports nothing from any layer.
 */
import { constants, PerformanceObserver } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";

/** Heap limit after a full collection = live data × (1 + this / 100), at least. */
export const HEAP_GROWING_PERCENT = 25;

/**
 * The room above live data that limitHeapGrowth keeps at least: just above the young
 * generation (16 MiB), so that V8 does not start marking again right after a full collection.
 * A byte budget, whatever the size of the tree: at 40-46 MiB live it added 3 MiB to a backup's
 * peak RSS and saved a tenth of its CPU (docs/performance.md).
 */
export const MIN_ROOM_BYTES = 20 * 1024 * 1024;
/**
 * MIN_ROOM_BYTES is fitted from the live data of the last full collection and V8 applies it at
 * the next, so a heap that grew meanwhile (10 MiB live at one collection, 40 at the next) would
 * get the small heap's factor; capped at 2x, the limit stays within twice the live data.
 */
export const MAX_ROOM_PERCENT = 100;

/**
 * The room above live data that withHeapHeadroom keeps: twice the young generation, for work
 * whose live heap is small while buffers stream through it (restore).
 */
export const HEADROOM_BYTES = 32 * 1024 * 1024;
/** V8's own ceiling for its dynamic factor (4×), never exceeded: the room is a floor. */
const MAX_HEADROOM_PERCENT = 300;

/** Whether limitHeapGrowth has run: outside withHeapHeadroom, 0 (V8's own factor) until then. */
let limited = false;
/** withHeapHeadroom calls running (restores run concurrently in tests). */
let headroomUsers = 0;
let observer: PerformanceObserver | undefined;
/** The last fit: the live heap it saw and the percent it set (tests read it). */
let lastFit: { usedBytes: number; percent: number } | undefined;

function setGrowingPercent(percent: number): void {
  setFlagsFromString(`--heap-growing-percent=${String(percent)}`);
}

/**
 * The growing percent that leaves `roomBytes` above `usedBytes` of live heap, never less than
 * HEAP_GROWING_PERCENT and never more than V8's own ceiling.
 */
export function growingPercentFor(
  usedBytes: number,
  roomBytes: number,
  maxPercent = MAX_HEADROOM_PERCENT,
): number {
  const wanted = Math.ceil((100 * roomBytes) / Math.max(usedBytes, 1));
  return Math.max(HEAP_GROWING_PERCENT, Math.min(wanted, maxPercent));
}

/** The growing percent that leaves HEADROOM_BYTES above `usedBytes` of live heap. */
export function headroomPercent(usedBytes: number): number {
  return growingPercentFor(usedBytes, HEADROOM_BYTES);
}

/** The room kept now and its cap: withHeapHeadroom's, limitHeapGrowth's, or none. */
function room(): { bytes: number; maxPercent: number } | undefined {
  if (headroomUsers > 0)
    return { bytes: HEADROOM_BYTES, maxPercent: MAX_HEADROOM_PERCENT };
  return limited
    ? { bytes: MIN_ROOM_BYTES, maxPercent: MAX_ROOM_PERCENT }
    : undefined;
}

/** Sets the percent for the room kept now from the heap in use now. */
function fit(): void {
  const kept = room();
  if (kept === undefined) {
    lastFit = undefined;
    setGrowingPercent(0);
    return;
  }
  const usedBytes = getHeapStatistics().used_heap_size;
  const percent = growingPercentFor(usedBytes, kept.bytes, kept.maxPercent);
  lastFit = { usedBytes, percent };
  setGrowingPercent(percent);
}

/** Refits after every full collection while some room is kept (V8 uses the flag at the next). */
function watchFullCollections(): void {
  if (observer !== undefined) return;
  observer = new PerformanceObserver((list) => {
    if (
      list
        .getEntries()
        .some(
          (entry) =>
            (entry as { detail?: { kind?: number } }).detail?.kind ===
            constants.NODE_PERFORMANCE_GC_MAJOR,
        )
    )
      fit();
  });
  observer.observe({ entryTypes: ["gc"] });
}

function stopWatching(): void {
  observer?.disconnect();
  observer = undefined;
}

/**
 * Applies the growing factor for the whole process: 1.25 until the first full collection,
 * then refitted after each to leave MIN_ROOM_BYTES at least (not fitted now: the start-up
 * heap is tiny, and its factor would apply to whatever the first collection finds).
 */
export function limitHeapGrowth(): void {
  limited = true;
  lastFit = {
    usedBytes: getHeapStatistics().used_heap_size,
    percent: HEAP_GROWING_PERCENT,
  };
  setGrowingPercent(HEAP_GROWING_PERCENT);
  watchFullCollections();
}

/** Back to V8's own factor (for tests, which share one process). */
export function unlimitHeapGrowth(): void {
  limited = false;
  if (headroomUsers === 0) stopWatching();
  fit();
}

/** The live heap and percent of the last fit, undefined while V8's own factor applies. */
export function lastHeapFit():
  { readonly usedBytes: number; readonly percent: number } | undefined {
  return lastFit;
}

/**
 * Runs `work` with at least HEADROOM_BYTES of heap above the live data, for work whose live
 * heap is small while buffers stream through it (restore): set now, and again after every
 * full collection, from the heap in use then (V8 uses the flag at the next collection).
 * Afterwards the process's usual growth is back.
 */
export async function withHeapHeadroom<T>(work: () => Promise<T>): Promise<T> {
  if (headroomUsers++ === 0) {
    fit();
    watchFullCollections();
  }
  try {
    return await work();
  } finally {
    if (--headroomUsers === 0) {
      if (!limited) stopWatching();
      fit();
    }
  }
}
