/**
 * A transfer rate limit (`--limit-upload`, `--limit-download`, in KiB/s), as restic's limiter
 * backend has it: the bytes that cross the store's byte stream wait their turn so that, over
 * any stretch of a run, no more pass than the rate allows. No burst is granted up front, so a
 * limited transfer of N bytes takes at least N / rate, which is what a user on a shared link
 * expects and what the tests measure.
 */
import { setTimeout as sleep } from "node:timers/promises";

/** Rates in KiB/s (1024 bytes), as restic counts them; absent means unlimited. */
export interface TransferLimits {
  readonly uploadKiBps?: number;
  readonly downloadKiBps?: number;
}

/** Waits shorter than this are not worth a timer: they catch up with the next transfer. */
const MIN_SLEEP_MS = 2;

export class RateLimiter {
  readonly #bytesPerMs: number;
  readonly #now: () => number;
  /** When the link, as the limit sees it, has carried every byte taken so far. */
  #busyUntil = 0;

  constructor(
    kibPerSecond: number,
    now: () => number = () => performance.now(),
  ) {
    if (!Number.isFinite(kibPerSecond) || kibPerSecond <= 0)
      throw new RangeError(
        `A rate limit must be a positive number of KiB/s, not ${kibPerSecond}`,
      );
    this.#bytesPerMs = (kibPerSecond * 1024) / 1000;
    this.#now = now;
  }

  /**
   * Resolves once `bytes` may have crossed the link at the rate: each transfer is given its
   * own stretch of time after the stretches of those before it, and the caller waits until
   * the end of its stretch.
   */
  async take(bytes: number): Promise<void> {
    const now = this.#now();
    const start = Math.max(now, this.#busyUntil);
    this.#busyUntil = start + bytes / this.#bytesPerMs;
    const wait = this.#busyUntil - now;
    if (wait >= MIN_SLEEP_MS) await sleep(wait);
  }
}

/** The limiters of one store, or undefined where there is no limit. */
export interface Limiters {
  readonly upload: RateLimiter | undefined;
  readonly download: RateLimiter | undefined;
}

export function limitersOf(
  limits: TransferLimits | undefined,
): Limiters | undefined {
  if (limits?.uploadKiBps === undefined && limits?.downloadKiBps === undefined)
    return undefined;
  return {
    upload:
      limits.uploadKiBps === undefined
        ? undefined
        : new RateLimiter(limits.uploadKiBps),
    download:
      limits.downloadKiBps === undefined
        ? undefined
        : new RateLimiter(limits.downloadKiBps),
  };
}
