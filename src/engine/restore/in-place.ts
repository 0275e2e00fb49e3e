/**
 * The in-place check. A regular file (never a symlink) with the same size and mtime is read and
 * hashed, and kept only when its whole-file checksum matches too (for a checksum over chunk
 * ids: its chunks, cut by the repository's chunker, have the recorded ids); rsync trusts size
 * and mtime alone, but a local read is far cheaper than fetching and decrypting, and the
 * snapshot's checksum makes the skip as safe as a rewrite. Its owner and mode are fixed; its
 * mtime already matches. A file of a snapshot copied from another repository keeps that
 * repository's chunk boundaries, so it never matches here and is rewritten: slower, not wrong.
 */
import {
  closeSync,
  constants as fsConstants,
  fchmodSync,
  fchownSync,
  fstatSync,
  openSync,
  readSync,
  type BigIntStats,
} from "node:fs";
import { MODE_MASK, type FileEntry } from "../../repo/index.js";
import { DiskContentCheck, type ChunkingRepository } from "../content-check.js";
import { restoredMtimeNs } from "./times.js";

const READ_BLOCK = 1024 * 1024;
// O_NONBLOCK so that a FIFO swapped in after the lstat cannot hang the restore.
const READ_FLAGS =
  fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;

/**
 * True when the file at `path` (whose lstat is `existing`) already is `entry`, its owner (when
 * `isRoot`) and mode then fixed unless `dryRun`; false when it must be written. Throws only when
 * fixing the owner or mode fails.
 */
export function keepIdentical(
  repo: ChunkingRepository,
  entry: FileEntry,
  path: Buffer,
  existing: BigIntStats,
  isRoot: boolean,
  dryRun = false,
): boolean {
  if (!existing.isFile() || existing.size !== BigInt(entry.size)) return false;
  if (
    existing.mtimeNs !== entry.mtimeNs &&
    existing.mtimeNs !== restoredMtimeNs(entry.mtimeNs)
  ) {
    return false;
  }
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch {
    return false;
  }
  try {
    const stats = fstatSync(fd, { bigint: true });
    if (
      !stats.isFile() ||
      stats.ino !== existing.ino ||
      stats.dev !== existing.dev
    )
      return false;
    // A file with other links may share its inode with something outside the target (a
    // planted hardlink): fixing its owner or mode in place would change that too. Rewrite it.
    if (stats.nlink !== 1n) return false;
    const check = new DiskContentCheck(repo, entry);
    const buffer = Buffer.allocUnsafe(
      Math.min(READ_BLOCK, Math.max(1, entry.size)),
    );
    let total = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      check.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (total > entry.size) return false;
    }
    if (!check.matches()) return false;
    if (dryRun) return true;
    if (isRoot) fchownSync(fd, entry.uid, entry.gid);
    fchmodSync(fd, entry.mode & MODE_MASK);
    return true;
  } finally {
    closeSync(fd);
  }
}
