/**
 * The read hint of a walk that reads a directory's files in order (`check --read-data`,
 * `copy`): the blobs of its small files are named to the store a window ahead of the file
 * being read (Store.expect through Repository.expect), so that a pack store reads each pack's
 * expected blobs together instead of one request per blob (store/packs/read-ahead.ts). Other
 * stores ignore the hint. Restore has its own, which also reaches into directories loaded ahead
 * (restore/expect-ahead.ts).
 */
import type { FileEntry, TreeEntry } from "../repo/index.js";
import type { BlobId } from "../store/index.js";

/**
 * A file of at most this many blobs is small: its blobs are hinted. A larger file's blobs are
 * mostly large and read alone. Restore's hints (restore/expect-ahead.ts) use the same bound.
 */
export const SMALL_FILE_BLOBS = 3;

/** Files hinted ahead of the one being read. */
const HINT_WINDOW = 512;

export interface HintTarget {
  expect(ids: readonly BlobId[]): void;
}

function isSmallFile(entry: TreeEntry): entry is FileEntry {
  return entry.type === "file" && entry.content.length <= SMALL_FILE_BLOBS;
}

export class DirectoryReadHints {
  readonly #files: readonly FileEntry[];
  /** Small files hinted so far, and small files the walk has reached. */
  #hinted = 0;
  #reached = 0;

  /**
   * `entries`: a directory's entries in the order the walk reads them; `wanted`: whether the
   * walk will read this blob (blobs it skips are never hinted: the store would read them).
   */
  constructor(
    private readonly target: HintTarget,
    entries: readonly TreeEntry[],
    private readonly wanted: (id: BlobId) => boolean,
  ) {
    this.#files = entries.filter(isSmallFile);
  }

  /**
   * Call before the walk reads `entry`'s blobs, for every entry in order (all but small files
   * pass through): once the walk is half way through the files hinted, the next ones are.
   */
  before(entry: TreeEntry): void {
    if (!isSmallFile(entry)) return;
    const reached = this.#reached++;
    if (reached < this.#hinted - HINT_WINDOW / 2) return;
    const end = Math.min(this.#files.length, reached + HINT_WINDOW);
    const ids: BlobId[] = [];
    for (let index = this.#hinted; index < end; index++)
      for (const id of (this.#files[index] as FileEntry).content)
        if (this.wanted(id)) ids.push(id);
    this.#hinted = Math.max(this.#hinted, end);
    if (ids.length > 0) this.target.expect(ids);
  }
}
