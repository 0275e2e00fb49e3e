/**
 * A file's identity as the files cache trusts it: (inode, size, mtime, ctime). When all four
 * match what a run recorded, the file's content is taken as unchanged without reading it. The
 * fields are chosen here once; the walk, the files cache lookup and the worker-digest route's
 * "did it change while a worker read it" all go through these two functions.
 */
import { lstatSync } from "node:fs";
import type { FileIdentity } from "../../repo/index.js";

/** The stat fields an identity is taken from: an lstat() result or a packed listing's entry. */
export interface IdentityStat {
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export function identityOf(stat: IdentityStat): FileIdentity {
  return {
    ino: stat.ino,
    size: Number(stat.size),
    mtimeNs: stat.mtimeNs,
    ctimeNs: stat.ctimeNs,
  };
}

/** Whether two identities name the same unchanged file. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return (Object.keys(a) as (keyof FileIdentity)[]).every(
    (field) => a[field] === b[field],
  );
}

/** Whether the file at `path` still has `identity` (false if it is gone or unreadable). */
export function unchangedSince(path: Buffer, identity: FileIdentity): boolean {
  try {
    return sameIdentity(
      identityOf(lstatSync(path, { bigint: true })),
      identity,
    );
  } catch {
    return false;
  }
}
