/**
 * The walk's read hint: before it schedules a directory's small files it tells the repository
 * (and so the store) which blobs it will ask for, in that order (Store.expect). A pack store
 * then reads each pack's expected blobs in one go instead of guessing (store/packs/
 * read-ahead.ts); other stores ignore the hint. Hints run at most HINT_AHEAD files ahead of the
 * files scheduled, so a directory of 100,000 files never hands the store 100,000 ids at once
 * (the store bounds what it remembers, and would drop the rest).
 */
import type { DirEntry, Tree, TreeEntry } from "../../repo/index.js";
import { SMALL_FILE_BLOBS } from "../read-hints.js";
import type { RestoreRepository } from "./types.js";

/** Files hinted ahead of the last one scheduled, at most. */
export const HINT_AHEAD = 2048;

/**
 * Files of a subdirectory hinted as soon as its tree is loaded ahead, before the walk reaches
 * it: a backup does not keep a directory's files together in its packs, so the first ask in a
 * pack finds the neighbouring directories' blobs expected too.
 */
export const PRE_HINT = 256;

/** How many of each loaded-ahead tree's small files were hinted already. */
const preHinted = new WeakMap<Tree, number>();

/**
 * The subdirectory trees of a directory, loaded `ahead` at a time in walk order (a window that
 * slides as the walk takes them), their ids hinted `hintAhead` at a time before they load and,
 * where the whole subdirectory is restored, their first PRE_HINT small files hinted as they
 * arrive. The two windows differ on purpose: a decoded tree is an object per entry that lives
 * until the walk reaches it, so trees loaded far ahead are what the young generation's
 * collections copy again and again (docs/performance.md, "Restore CPU, round three"), while a
 * hint is one id per tree and lets a pack store read a whole pack's trees together.
 */
export class TreesAhead {
  readonly #repo: RestoreRepository;
  readonly #dirs: readonly { entry: DirEntry; whole: boolean }[];
  readonly #hintAhead: number;
  readonly #hint: boolean;
  readonly #loading = new Map<DirEntry, Promise<Tree>>();
  #next = 0;
  #treesHinted = 0;

  constructor(
    repo: RestoreRepository,
    dirs: readonly { entry: DirEntry; whole: boolean }[],
    ahead: number,
    hint: boolean,
    hintAhead: number = ahead,
  ) {
    this.#repo = repo;
    this.#dirs = dirs;
    this.#hintAhead = Math.max(ahead, hintAhead);
    this.#hint = hint && repo.expect !== undefined;
    while (this.#next < Math.min(ahead, dirs.length)) this.#loadNext();
  }

  /** The tree of `entry`, loading; the next one beyond the window starts loading. */
  take(entry: DirEntry): Promise<Tree> | undefined {
    const loading = this.#loading.get(entry);
    this.#loading.delete(entry);
    if (loading !== undefined && this.#next < this.#dirs.length)
      this.#loadNext();
    return loading;
  }

  #loadNext(): void {
    if (this.#hint && this.#next >= this.#treesHinted) {
      const end = Math.min(this.#dirs.length, this.#next + this.#hintAhead);
      this.#repo.expect?.(
        this.#dirs.slice(this.#next, end).map((dir) => dir.entry.subtree),
      );
      this.#treesHinted = end;
    }
    const { entry, whole } = this.#dirs[this.#next++] as {
      entry: DirEntry;
      whole: boolean;
    };
    const loading = this.#repo.loadTree(entry.subtree);
    if (this.#hint && whole)
      void loading.then(
        (tree) => {
          const files = smallFiles(tree.entries).slice(0, PRE_HINT);
          this.#repo.expect?.(files.flat());
          preHinted.set(tree, files.length);
        },
        () => undefined,
      );
    loading.catch(() => undefined);
    this.#loading.set(entry, loading);
  }
}

export class ExpectAhead {
  readonly #repo: RestoreRepository;
  /** The small files' blob ids, one list per file, in the order the walk schedules them. */
  readonly #files: (readonly Uint8Array[])[];
  /** Files hinted so far, and files the walk has passed. */
  #hinted = 0;
  #passed = 0;

  /**
   * `entries` are the directory's entries to be restored, in walk order; `tree` the tree they
   * come from, whose first files TreesAhead may have hinted already.
   */
  constructor(
    repo: RestoreRepository,
    tree: Tree,
    entries: Iterable<TreeEntry>,
  ) {
    this.#repo = repo;
    this.#files = repo.expect === undefined ? [] : smallFiles(entries);
    this.#hinted = Math.min(preHinted.get(tree) ?? 0, this.#files.length);
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

function smallFiles(entries: Iterable<TreeEntry>): (readonly Uint8Array[])[] {
  const files: (readonly Uint8Array[])[] = [];
  for (const entry of entries)
    if (isSmallFile(entry)) files.push(entry.content);
  return files;
}
