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
 * fifth of its CPU (docs/performance.md, "Restore CPU, round two"). `withHeapHeadroom` gives a
 * stretch of work a fixed headroom instead, the factor recomputed after each full collection.
 *
 * Shared leaf: imports nothing from any layer.
 */
import { constants, PerformanceObserver } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";

/** Heap limit after a full collection = live data × (1 + this / 100). */
export const HEAP_GROWING_PERCENT = 25;

/**
 * The room above live data that withHeapHeadroom keeps: twice the young generation, so that
 * V8's "less room left than the young generation" trigger does not fire right after a
 * collection.
 */
export const HEADROOM_BYTES = 32 * 1024 * 1024;
/** V8's own ceiling for its dynamic factor (4×), never exceeded: the headroom is a floor. */
const MAX_HEADROOM_PERCENT = 300;

/** The percent set outside withHeapHeadroom: 0 is V8's own dynamic factor. */
let basePercent = 0;
/** withHeapHeadroom calls running (restores run concurrently in tests). */
let headroomUsers = 0;
let observer: PerformanceObserver | undefined;

function setGrowingPercent(percent: number): void {
  setFlagsFromString(`--heap-growing-percent=${String(percent)}`);
}

/** Applies the growing factor to this process's isolates, current and future. */
export function limitHeapGrowth(): void {
  basePercent = HEAP_GROWING_PERCENT;
  setGrowingPercent(basePercent);
}

/**
 * The growing percent that leaves HEADROOM_BYTES above `usedBytes` of live heap, and never
 * less than the process's usual growth.
 */
export function headroomPercent(usedBytes: number): number {
  const wanted = Math.ceil((100 * HEADROOM_BYTES) / Math.max(usedBytes, 1));
  return Math.max(
    basePercent,
    HEAP_GROWING_PERCENT,
    Math.min(wanted, MAX_HEADROOM_PERCENT),
  );
}

function fitHeadroom(): void {
  setGrowingPercent(headroomPercent(getHeapStatistics().used_heap_size));
}

/**
 * Runs `work` with at least HEADROOM_BYTES of heap above the live data, for work whose live
 * heap is small while buffers stream through it (restore): set now, and again after every
 * full collection, from the heap in use then (V8 uses the flag at the next collection).
 * Afterwards the process's usual growth is back.
 */
export async function withHeapHeadroom<T>(work: () => Promise<T>): Promise<T> {
  if (headroomUsers++ === 0) {
    fitHeadroom();
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
        fitHeadroom();
    });
    observer.observe({ entryTypes: ["gc"] });
  }
  try {
    return await work();
  } finally {
    if (--headroomUsers === 0) {
      observer?.disconnect();
      observer = undefined;
      setGrowingPercent(basePercent);
    }
  }
}
