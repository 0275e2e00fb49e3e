/**
 * The digests of the directory cache (ClientCache.lookupDir): what a directory's tree blob
 * depends on, taken from its packed listing without building an object per child.
 *
 * A tree lists each kept child's name, type, mode, owner, mtime and, for a file, its size,
 * content and hard-link identity, for a subdirectory its tree id. The listing digest covers the
 * name and whole lstat (inode, device, size, mtime, ctime, mode, owner, link count) of every
 * kept child: the same (inode, size, mtime, ctime) the files cache trusts to say a file's
 * content is unchanged, and more. The subtrees digest covers the subdirectories' tree ids.
 * When both match a record, the record's tree is the tree this run would make. The exclusion
 * rules need no place of their own: all they change in a tree is which children it keeps.
 */
import { createHash } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import type { TreeEntry } from "../../repo/index.js";
import type { BlobId } from "../../store/index.js";
import {
  childRelative,
  isIgnoreFileName,
  type ExcludeMatcher,
} from "./excludes.js";
import {
  packedIsDirectory,
  packedName,
  packedStat,
  PACKED_STAT_BYTES,
  type PackedListing,
} from "./listing.js";

/** Changes whenever what the digest covers does, so old records simply stop matching. */
// v2: trees of format 2 (owner names, fifos), so a directory recorded with a version 1 tree is
// encoded again once, as format 2, rather than kept as it was.
// v3: trees of format 3 (files' checksums over chunk ids), likewise: a snapshot holds the kind
// of checksum backups write, not SHA-256s kept from directories an older version recorded.
// v4: trees of format 4 (small files' bytes inline), likewise: a directory recorded with a
// version 3 tree is encoded again once, its small files now inline.
// Not moved for format 5 (checksums over chunk ids derived, not stored): a format-4 tree handed
// back for an unchanged directory stays valid and is read and verified exactly as before (its
// stored checksums are the ones format 5 derives), and encoding it again would only store a
// second, smaller copy of every tree once, beside the format-4 one older snapshots keep. A
// directory gets a format-5 tree when anything in or below it changes.
const LISTING_TAG = Buffer.from("blindsync directory listing v4\0");

const TYPE_BITS = BigInt(fsConstants.S_IFMT);
const FIFO = BigInt(fsConstants.S_IFIFO);

/**
 * Whether the listing holds the directory's own ignore file. A named pipe under that name is
 * none: reading it would wait for a writer, and backups store fifos without opening them.
 */
export function hasIgnoreFile(listing: PackedListing): boolean {
  for (let index = 0; index < listing.ends.length; index++) {
    if (!isIgnoreFileName(packedName(listing, index))) continue;
    const mode = listing.stats[(index * PACKED_STAT_BYTES) / 8] as bigint;
    return (mode & TYPE_BITS) !== FIFO;
  }
  return false;
}

export interface KeptChildren {
  /** See DirRecord.listing. */
  readonly listing: Buffer;
  /** Listing indices of the kept subdirectories, in listing order. */
  readonly dirs: number[];
}

/**
 * The listing digest of a directory and which of its kept children are directories; undefined
 * when a child could not be stat-ed (such a directory is walked, and reported, every time).
 */
export function keptChildren(
  packed: PackedListing,
  relative: string,
  matcher: ExcludeMatcher,
): KeptChildren | undefined {
  const stats = Buffer.from(
    packed.stats.buffer,
    packed.stats.byteOffset,
    packed.stats.byteLength,
  );
  const hash = createHash("sha256").update(LISTING_TAG);
  const dirs: number[] = [];
  for (let index = 0; index < packed.ends.length; index++) {
    if (packed.errors[index] !== 0) return undefined;
    const name = packedName(packed, index);
    const isDirectory = packedIsDirectory(packed, index);
    const stat = packedStat(packed, index);
    if (matcher.excludes(childRelative(relative, name), stat)) continue;
    hash.update(lengthPrefix(name.length)).update(name);
    hash.update(
      stats.subarray(
        index * PACKED_STAT_BYTES,
        (index + 1) * PACKED_STAT_BYTES,
      ),
    );
    if (isDirectory) dirs.push(index);
  }
  return { listing: hash.digest(), dirs };
}

export interface SubtreeOf {
  readonly name: Uint8Array;
  readonly subtree: BlobId;
}

/** See DirRecord.subtrees: over names and ids, in name order, whatever order they came in. */
export function subtreesDigest(subdirs: readonly SubtreeOf[]): Buffer {
  const sorted = [...subdirs].sort((a, b) => Buffer.compare(a.name, b.name));
  const hash = createHash("sha256");
  for (const { name, subtree } of sorted)
    hash.update(lengthPrefix(name.length)).update(name).update(subtree);
  return hash.digest();
}

/** The subdirectories of a directory's finished entries, for subtreesDigest(). */
export function subdirsOf(entries: readonly TreeEntry[]): SubtreeOf[] {
  const subdirs: SubtreeOf[] = [];
  for (const entry of entries)
    if (entry.type === "dir")
      subdirs.push({ name: entry.name, subtree: entry.subtree });
  return subdirs;
}

/** A directory's own regular files: how many, and their bytes (DirRecord.files, .bytes). */
export function directTotals(entries: readonly TreeEntry[]): {
  files: number;
  bytes: number;
} {
  let files = 0;
  let bytes = 0;
  for (const entry of entries) {
    if (entry.type !== "file") continue;
    files += 1;
    bytes += entry.size;
  }
  return { files, bytes };
}

const prefix = Buffer.alloc(4);

/** A 4-byte big-endian length, so that no two sequences of names hash alike. */
function lengthPrefix(length: number): Buffer {
  // hash.update() copies its input at once, so one scratch buffer serves every call.
  prefix.writeUInt32BE(length, 0);
  return prefix;
}
