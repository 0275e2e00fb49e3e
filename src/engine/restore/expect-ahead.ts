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

/** How far TreesAhead loads and hints ahead of the walk. */
export interface TreeWindow {
  /** Trees loaded ahead, at most. */
  readonly trees: number;
  /**
   * Entries the trees loaded ahead may hold together, at most; a tree still loading counts as
   * the average of those loaded so far (DEFAULT_TREE_ENTRIES before any). One tree always loads.
   */
  readonly entries?: number;
  /** Tree ids hinted to the store ahead (never fewer than `trees`). */
  readonly hinted?: number;
}

/** What a tree not yet loaded is taken to hold, before any tree of the directory has loaded. */
const DEFAULT_TREE_ENTRIES = 128;

/**
 * The subdirectory trees of a directory, loaded ahead in walk order (a window that slides as
 * the walk takes them), their ids hinted before they load and, where the whole subdirectory is
 * restored, their first PRE_HINT small files hinted as they arrive. The window counts trees and
 * entries: over ssh many small trees in flight hide the round trips, while a decoded tree is an
 * object per entry that lives until the walk reaches it, so big trees loaded far ahead are what
 * the young generation's collections copy again and again (docs/performance.md, "Restore CPU,
 * round three"). Hints are one id per tree and go further, so a pack store can read a whole
 * pack's trees together.
 */
export class TreesAhead {
  readonly #repo: RestoreRepository;
  readonly #dirs: readonly { entry: DirEntry; whole: boolean }[];
  readonly #trees: number;
  readonly #entries: number;
  readonly #hintAhead: number;
  readonly #hint: boolean;
  readonly #loading = new Map<DirEntry, Promise<Tree>>();
  /** Entries of the trees loaded and not yet taken, by tree. */
  readonly #loaded = new Map<DirEntry, number>();
  #entriesLoaded = 0;
  /** Trees loaded so far and their entries, for the average. */
  #treesSeen = 0;
  #entriesSeen = 0;
  #next = 0;
  #treesHinted = 0;

  constructor(
    repo: RestoreRepository,
    dirs: readonly { entry: DirEntry; whole: boolean }[],
    window: TreeWindow,
    hint: boolean,
  ) {
    this.#repo = repo;
    this.#dirs = dirs;
    this.#trees = window.trees;
    this.#entries = window.entries ?? Infinity;
    this.#hintAhead = Math.max(window.trees, window.hinted ?? window.trees);
    this.#hint = hint && repo.expect !== undefined;
    this.#fill();
  }

  /** The tree of `entry`, loading; the window slides on. */
  take(entry: DirEntry): Promise<Tree> | undefined {
    const loading = this.#loading.get(entry);
    this.#loading.delete(entry);
    const entries = this.#loaded.get(entry);
    if (entries !== undefined) {
      this.#loaded.delete(entry);
      this.#entriesLoaded -= entries;
    }
    this.#fill();
    return loading;
  }

  #fill(): void {
    while (this.#next < this.#dirs.length && this.#roomForOneMore())
      this.#loadNext();
  }

  #roomForOneMore(): boolean {
    const inFlight = this.#loading.size;
    if (inFlight === 0) return true;
    if (inFlight >= this.#trees) return false;
    const average =
      this.#treesSeen === 0
        ? DEFAULT_TREE_ENTRIES
        : this.#entriesSeen / this.#treesSeen;
    const stillLoading = inFlight - this.#loaded.size;
    return this.#entriesLoaded + (stillLoading + 1) * average <= this.#entries;
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
    void loading.then(
      (tree) => {
        if (this.#hint && whole) {
          const files = smallFiles(tree.entries).slice(0, PRE_HINT);
          this.#repo.expect?.(files.flat());
          preHinted.set(tree, files.length);
        }
        const entries = tree.entries.length;
        this.#treesSeen++;
        this.#entriesSeen += entries;
        // Counted only while it waits for the walk; one taken already is the walk's now.
        if (this.#loading.has(entry)) {
          this.#loaded.set(entry, entries);
          this.#entriesLoaded += entries;
        }
        this.#fill();
      },
      () => undefined,
    );
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
