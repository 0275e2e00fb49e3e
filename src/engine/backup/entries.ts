/**
 * Tree entries made from what lstat() said of a directory's children: the metadata every
 * entry records (the owner and group by number and, where they resolve, by name), and each
 * type's own fields.
 */
import { constants as fsConstants } from "node:fs";
import {
  MODE_MASK,
  type CachedContent,
  type FileEntry,
  type TreeEntry,
} from "../../repo/index.js";
import type { BlobId } from "../../store/index.js";
import type { EntryStat } from "./listing.js";
import { systemOwnerNames } from "../owner-names.js";

const TYPE_BITS = BigInt(fsConstants.S_IFMT);
const FIFO = BigInt(fsConstants.S_IFIFO);

/** Whether lstat() saw a named pipe (EntryStat, packed by listing.ts, has no isFIFO()). */
export function isFifo(stat: EntryStat): boolean {
  return (stat.mode & TYPE_BITS) === FIFO;
}

function baseMeta(name: Uint8Array, stat: EntryStat) {
  const uid = Number(stat.uid);
  const gid = Number(stat.gid);
  return {
    name,
    mode: Number(stat.mode) & MODE_MASK,
    mtimeNs: stat.mtimeNs,
    uid,
    gid,
    user: systemOwnerNames.user(uid),
    group: systemOwnerNames.group(gid),
  };
}

/** A subdirectory's entry, whichever way its subtree was made. */
export function dirEntry(
  name: Uint8Array,
  stat: EntryStat,
  subtree: BlobId,
): TreeEntry {
  return { ...baseMeta(name, stat), type: "dir", subtree };
}

/**
 * A file's entry; `size` is what was read, which may differ from what lstat() saw. With
 * `inline`, the file's bytes (its content is then empty).
 */
export function fileEntry(
  name: Uint8Array,
  stat: EntryStat,
  size: number,
  cached: CachedContent,
  inline?: Uint8Array,
): FileEntry {
  // baseMeta()'s fields, written out rather than spread: this runs for every file of every
  // backup, and the spread cost a measurable share of a re-run's main thread.
  const uid = Number(stat.uid);
  const gid = Number(stat.gid);
  const entry = {
    name,
    mode: Number(stat.mode) & MODE_MASK,
    mtimeNs: stat.mtimeNs,
    uid,
    gid,
    // Resolved once per distinct id (owner-names.ts): a map lookup here.
    user: systemOwnerNames.user(uid),
    group: systemOwnerNames.group(gid),
    type: "file",
    size,
    checksum: cached.checksum,
    content: cached.content,
  } as const;
  const file: FileEntry =
    inline === undefined ? entry : { ...entry, content: [], inline };
  return stat.nlink > 1n
    ? { ...file, hardlink: { dev: stat.dev, ino: stat.ino } }
    : file;
}

export function symlinkEntry(
  name: Uint8Array,
  stat: EntryStat,
  target: Buffer,
): TreeEntry {
  return {
    ...baseMeta(name, stat),
    type: "symlink",
    target: new Uint8Array(target),
  };
}

/** A named pipe: its metadata only; it is never opened (a read would wait for a writer). */
export function fifoEntry(name: Uint8Array, stat: EntryStat): TreeEntry {
  return { ...baseMeta(name, stat), type: "fifo" };
}
