/**
 * `--overwrite`: what a restore does with a file or symlink that already stands at an entry's
 * name, with restic 0.17's four meanings.
 *
 * - `always`: replace it, even when it already is the snapshot's file;
 * - `if-changed` (the default): replace it unless it already is the snapshot's file (same size
 *   and mtime, and, stricter than restic, which trusts those two, the same whole-file checksum: in-place.ts);
 * - `if-newer`: replace it only when the snapshot's mtime is later than its own;
 * - `never`: leave it as it is.
 *
 * Whatever stands there is judged by lstat: a symlink is never followed, and `never` and
 * `if-newer` leave a directory or a symlink in place too, as restic does.
 */
import type { BigIntStats } from "node:fs";
import { restoredMtimeNs } from "./times.js";

export const OVERWRITE_POLICIES = [
  "always",
  "if-changed",
  "if-newer",
  "never",
] as const;
export type OverwritePolicy = (typeof OVERWRITE_POLICIES)[number];

export const DEFAULT_OVERWRITE: OverwritePolicy = "if-changed";

export function isOverwritePolicy(value: string): value is OverwritePolicy {
  return (OVERWRITE_POLICIES as readonly string[]).includes(value);
}

/**
 * `create` when nothing stands there, `keep` when the policy leaves it, `replace` when it goes
 * (under if-changed the caller first checks whether the file is already identical).
 */
export function fateOf(
  policy: OverwritePolicy,
  entryMtimeNs: bigint,
  existing: BigIntStats | undefined,
): "create" | "keep" | "replace" {
  if (existing === undefined) return "create";
  switch (policy) {
    case "never":
      return "keep";
    case "if-newer":
      // Compared with the mtime this restore would give it, so a file an earlier restore wrote
      // without the nanosecond addon does not look older than its own snapshot entry.
      return restoredMtimeNs(entryMtimeNs) > existing.mtimeNs
        ? "replace"
        : "keep";
    case "always":
    case "if-changed":
      return "replace";
  }
}
