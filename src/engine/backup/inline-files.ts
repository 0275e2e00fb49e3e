/**
 * Small files kept inside their directory's tree (tree format 4) instead of as data blobs of
 * their own. A first backup of many files of a few hundred bytes spent most of its per-file
 * work on each file being a blob: sealing it (cipher set-up, zstd, a header), the store's rows
 * and the SHA-256 of each sealed blob, the blob saver's queue and the client cache's known-blob
 * checks (docs/performance.md, "Small files inside their trees"). Inline, a file costs its
 * bytes in the tree and two keyed hashes for its checksum, computed as if it were one blob, so
 * that every reader checks it the way it checks a one-blob file.
 */
import {
  sameChecksum,
  type CachedContent,
  type InlineFileEntry,
  type Repository,
  type TreeEntry,
} from "../../repo/index.js";
import type { BlobId } from "../../store/index.js";

/**
 * Files of at most this many bytes (as lstat saw them and as read) go inline. The trade-off:
 * a larger limit spares more per-file work, but makes trees larger, so that one changed file
 * of a large directory sends more tree bytes again, and identical small files in different
 * directories are stored once each instead of once. At most the format's MAX_INLINE_BYTES.
 */
export const INLINE_FILE_MAX = 1024;

/** Whether a file of `size` bytes may go inline (an empty file has no content at all). */
export function isInlineSize(size: number | bigint): boolean {
  return size > 0 && size <= INLINE_FILE_MAX;
}

/**
 * The most bytes of small files one directory's tree carries inline; its further small files
 * are data blobs. A tree is written again whole when anything in its directory changes, so
 * without a bound one edited file in a directory of thousands of small ones sent all their
 * bytes again: the benchmark's 17,662 manual pages in one directory (4.5 MiB inline) made its
 * small change send twice restic's bytes (docs/performance.md, "A bound on a tree's inline
 * bytes"). 512 KiB keeps a directory of a thousand files of a few hundred bytes all inline.
 */
export const INLINE_DIR_MAX = 512 * 1024;

/**
 * One directory's inline allowance, spent in the order its entries are listed, so that the
 * same listing puts the same files inline on every run.
 */
export class InlineBudget {
  #left = INLINE_DIR_MAX;

  /** Whether a regular file of `size` bytes (lstat's) goes inline; if so, it is spent. */
  take(size: number | bigint): boolean {
    if (!isInlineSize(size)) return false;
    const bytes = Number(size);
    if (bytes > this.#left) return false;
    this.#left -= bytes;
    return true;
  }
}

/** A file's content as a read found it: its blobs, or its bytes when inline. */
export interface FileRead extends CachedContent {
  readonly size: number;
  /** The whole file, when it goes inline (then `content` is empty). */
  readonly inline?: Uint8Array;
}

/**
 * An inline file's content. `checksum` is the one a worker computed already, if any; else it
 * is computed here as the checksum of the one blob the bytes would be. The bytes are copied
 * out of the read's buffer (a small-file batch is a megabyte that one view would keep alive
 * until the directory's tree is written).
 */
export function inlineRead(
  repo: Pick<Repository, "blobId" | "fileChecksum">,
  data: Uint8Array,
  checksum?: Uint8Array,
): FileRead {
  return {
    content: [],
    checksum:
      checksum === undefined
        ? repo.fileChecksum(data.length, [repo.blobId(data)])
        : { kind: "chunk-ids", digest: checksum },
    size: data.length,
    inline: Buffer.from(data),
  };
}

/**
 * The inline files of the tree an earlier run made of a directory (the directory cache's
 * record), by name (latin1 of the bytes), so that a directory walked again because something
 * in it changed takes its unchanged small files' bytes from there instead of reading every
 * one again. Empty when the tree cannot be loaded (pruned, damaged): the files are read.
 */
export async function previousInlineFiles(
  repo: Pick<Repository, "loadTree">,
  tree: BlobId,
): Promise<Map<string, InlineFileEntry>> {
  const files = new Map<string, InlineFileEntry>();
  let entries: readonly TreeEntry[];
  try {
    ({ entries } = await repo.loadTree(tree));
  } catch {
    return files;
  }
  for (const entry of entries)
    if (entry.type === "file" && entry.inline !== undefined)
      files.set(Buffer.from(entry.name).toString("latin1"), entry);
  return files;
}

/**
 * The earlier tree's bytes of a file the files cache knows unchanged, when they are the bytes
 * that cache row vouches for: same name and size, and the checksum the row recorded (a keyed
 * hash of the bytes, so equal checksums mean equal bytes). Undefined: read the file.
 */
export function reusableInline(
  previous: ReadonlyMap<string, InlineFileEntry> | undefined,
  name: Uint8Array,
  size: number,
  cached: CachedContent,
): InlineFileEntry | undefined {
  const entry = previous?.get(Buffer.from(name).toString("latin1"));
  if (entry === undefined || entry.size !== size) return undefined;
  return sameChecksum(entry.checksum, cached.checksum) ? entry : undefined;
}
