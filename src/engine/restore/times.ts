/** Restoring mtimes: exact to the nanosecond with the addon, to the microsecond without it. */
import { futimesSync, lutimesSync } from "node:fs";
import { exactFileTimes, setFileTimesSync } from "../../util/file-times.js";

const NS_PER_SECOND = 1_000_000_000n;

/**
 * Mtime precision. With blindsync's utimensat addon (src/util/file-times.ts, `exactFileTimes`)
 * mtimes are restored to the exact nanosecond, before 1970 too. Without it (no compiler at
 * install) restore falls back to Node's fs.utimes family, and this is the seconds value it passes:
 * Node hands a double to libuv, which truncates it to whole microseconds, and a double near
 * today's epoch seconds resolves about 240 ns, so we aim at the middle of the microsecond
 * (+0.5 µs) and the truncation lands on exactly the right one. That fallback is exact to the
 * microsecond until 2106 (2^32 s), where a double's step grows past 0.5 µs; Node turns any
 * negative time into "now", so there mtimes before 1970 are restored as the epoch.
 */
export function utimesSeconds(mtimeNs: bigint): number {
  if (mtimeNs < 0n) return 0;
  const seconds = mtimeNs / NS_PER_SECOND;
  const micros = (mtimeNs % NS_PER_SECOND) / 1000n;
  return Number(seconds) + (Number(micros) + 0.5) / 1e6;
}

/** The mtime stat() reports after restore set `mtimeNs` (see utimesSeconds for the fallback). */
export function restoredMtimeNs(mtimeNs: bigint): bigint {
  if (exactFileTimes) return mtimeNs;
  if (mtimeNs < 0n) return 0n;
  return mtimeNs - (mtimeNs % 1000n);
}

/**
 * Sets atime and mtime of `path` without following a symlink there; `fd`, when given, is an
 * open descriptor of the same file for the fallback to use.
 */
export function setTimes(path: Buffer, mtimeNs: bigint, fd?: number): void {
  if (exactFileTimes) {
    setFileTimesSync(path, mtimeNs, true);
    return;
  }
  const seconds = utimesSeconds(mtimeNs);
  if (fd === undefined) lutimesSync(path, seconds, seconds);
  else futimesSync(fd, seconds, seconds);
}
