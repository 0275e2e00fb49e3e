/**
 * Setting file times to the nanosecond. Node's fs.utimes takes seconds as a double and so
 * cannot restore a present-day mtime exactly (about 240 ns of resolution); blindsync's small
 * native addon (native/utimens.c, built by node-gyp at install) calls utimensat(2) directly.
 * Without the addon (a machine with no compiler), times fall back to fs.utimes' precision.
 *
 * Shared leaf: imports nothing from any layer.
 */
import { lutimesSync, utimesSync } from "node:fs";
import { native } from "./native.js";

/** True when times are set to the exact nanosecond. */
export const exactFileTimes = native !== undefined;

const NS_PER_SECOND = 1_000_000_000n;

/**
 * Sets atime and mtime of `path` to `mtimeNs` (nanoseconds since the epoch). With
 * `noFollow`, a symlink's own times are set rather than its target's. Synchronous on purpose:
 * restore calls it once per file, and a libuv thread-pool round trip costs more than the
 * system call itself.
 */
export function setFileTimesSync(
  path: string | Buffer,
  mtimeNs: bigint,
  noFollow = false,
): void {
  let seconds = mtimeNs / NS_PER_SECOND;
  let nanoseconds = mtimeNs % NS_PER_SECOND;
  if (nanoseconds < 0n) {
    seconds -= 1n;
    nanoseconds += NS_PER_SECOND;
  }
  if (native !== undefined) {
    const bytes = typeof path === "string" ? Buffer.from(path) : path;
    try {
      native.setTimes(bytes, seconds, Number(nanoseconds), noFollow);
      return;
    } catch (error) {
      const code = (error as { code?: string }).code ?? "EIO";
      throw Object.assign(
        new Error(`${code}: cannot set times of "${bytes.toString()}"`),
        { code },
      );
    }
  }
  // libuv truncates the double to whole microseconds; aiming at the middle of the intended
  // microsecond keeps float error from landing one microsecond low.
  const asDouble = Number(seconds) + (Number(nanoseconds / 1000n) + 0.5) / 1e6;
  if (noFollow) lutimesSync(path, asDouble, asDouble);
  else utimesSync(path, asDouble, asDouble);
}

/** setFileTimesSync for callers that want a promise. */
export function setFileTimes(
  path: string | Buffer,
  mtimeNs: bigint,
  noFollow = false,
): Promise<void> {
  try {
    setFileTimesSync(path, mtimeNs, noFollow);
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(
      error instanceof Error ? error : new Error(String(error)),
    );
  }
}
