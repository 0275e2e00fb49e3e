/**
 * Tree entries made from what lstat() said of a directory's children: the metadata every
 * entry records, and each type's own fields.
 */
import {
  MODE_MASK,
  type CachedContent,
  type FileEntry,
  type TreeEntry,
} from "../../repo/index.js";
import type { BlobId } from "../../store/index.js";
import type { EntryStat } from "./listing.js";

function baseMeta(name: Uint8Array, stat: EntryStat) {
  return {
    name,
    mode: Number(stat.mode) & MODE_MASK,
    mtimeNs: stat.mtimeNs,
    uid: Number(stat.uid),
    gid: Number(stat.gid),
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

/** A file's entry; `size` is what was read, which may differ from what lstat() saw. */
export function fileEntry(
  name: Uint8Array,
  stat: EntryStat,
  size: number,
  cached: CachedContent,
): FileEntry {
  // baseMeta()'s fields, written out rather than spread: this runs for every file of every
  // backup, and the spread cost a measurable share of a re-run's main thread.
  const entry = {
    name,
    mode: Number(stat.mode) & MODE_MASK,
    mtimeNs: stat.mtimeNs,
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    type: "file",
    size,
    sha256: cached.sha256,
    content: cached.content,
  } as const;
  return stat.nlink > 1n
    ? { ...entry, hardlink: { dev: stat.dev, ino: stat.ino } }
    : entry;
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
