/**
 * The walk's read hint: before it schedules a directory's small files it tells the repository
 * (and so the store) which blobs it will ask for, in that order (Store.expect). A pack store
 * then reads each pack's expected blobs in one go instead of guessing (store/packs/
 * read-ahead.ts); other stores ignore the hint. Hints run at most HINT_AHEAD files ahead of the
 * files scheduled, so a directory of 100,000 files never hands the store 100,000 ids at once
 * (the store bounds what it remembers, and would drop the rest).
 */
import type { TreeEntry } from "../../repo/index.js";
import type { RestoreRepository } from "./types.js";

/**
 * A file of at most this many blobs is a small file (file-writer.ts fetches all of its blobs
 * at once, its BLOBS_AHEAD): its blobs are hinted. A larger file's blobs are mostly large and
 * read alone.
 */
export const SMALL_FILE_BLOBS = 3;

/** Files hinted ahead of the last one scheduled, at most. */
export const HINT_AHEAD = 2048;

export class ExpectAhead {
  readonly #repo: RestoreRepository;
  /** The small files' blob ids, one list per file, in the order the walk schedules them. */
  readonly #files: (readonly Uint8Array[])[];
  /** Files hinted so far, and files the walk has passed. */
  #hinted = 0;
  #passed = 0;

  /** `entries` are the directory's entries to be restored, in walk order. */
  constructor(repo: RestoreRepository, entries: Iterable<TreeEntry>) {
    this.#repo = repo;
    const files: (readonly Uint8Array[])[] = [];
    if (repo.expect !== undefined)
      for (const entry of entries)
        if (isSmallFile(entry)) files.push(entry.content);
    this.#files = files;
    this.#hintUpTo(HINT_AHEAD);
  }

  /** Called as the walk schedules a file of the directory: hints the next ones when due. */
  passed(entry: TreeEntry): void {
    if (!isSmallFile(entry) || this.#hinted >= this.#files.length) return;
    this.#passed++;
    // Half the hints used: the next half, so the store always knows some way ahead.
    if (this.#hinted - this.#passed <= HINT_AHEAD / 2)
      this.#hintUpTo(this.#passed + HINT_AHEAD);
  }

  #hintUpTo(count: number): void {
    const end = Math.min(count, this.#files.length);
    if (end <= this.#hinted) return;
    this.#repo.expect?.(this.#files.slice(this.#hinted, end).flat());
    this.#hinted = end;
  }
}

function isSmallFile(
  entry: TreeEntry,
): entry is Extract<TreeEntry, { type: "file" }> {
  return (
    entry.type === "file" &&
    entry.content.length > 0 &&
    entry.content.length <= SMALL_FILE_BLOBS
  );
}
