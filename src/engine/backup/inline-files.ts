/**
 * Small files kept inside their directory's tree (tree format 4) instead of as data blobs of
 * their own. A first backup of many files of a few hundred bytes spent most of its per-file
 * work on each file being a blob: sealing it (cipher set-up, zstd, a header), the store's rows
 * and the SHA-256 of each sealed blob, the blob saver's queue and the client cache's known-blob
 * checks (docs/performance.md, "Small files inside their trees"). Inline, a file costs its
 * bytes in the tree and two keyed hashes for its checksum, computed as if it were one blob, so
 * that every reader checks it the way it checks a one-blob file.
 */
import type { CachedContent, Repository } from "../../repo/index.js";

/**
 * Files of at most this many bytes (as lstat saw them and as read) go inline. The trade-off:
 * a larger limit spares more per-file work, but makes trees larger, so that one changed file
 * of a large directory sends more tree bytes again, and identical small files in different
 * directories are stored once each instead of once. At most the format's MAX_INLINE_BYTES.
 */
export const INLINE_FILE_MAX = 1024;

/** Whether a file of `size` bytes goes inline (an empty file has no content at all). */
export function isInlineSize(size: number | bigint): boolean {
  return size > 0 && size <= INLINE_FILE_MAX;
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
