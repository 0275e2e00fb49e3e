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
 * Shared leaf: imports nothing from any layer.
 */
import { setFlagsFromString } from "node:v8";

/** Heap limit after a full collection = live data × (1 + this / 100). */
export const HEAP_GROWING_PERCENT = 25;

/** Applies the growing factor to this process's isolates, current and future. */
export function limitHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${String(HEAP_GROWING_PERCENT)}`);
}
