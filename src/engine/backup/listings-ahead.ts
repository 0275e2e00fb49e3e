/**
 * Directory listings made ahead of the walk, in the thread pool. A first backup of many small
 * files is bound by its main thread while the second core waits (docs/performance.md, "Small
 * files, per-file cost, round four"), and listing each directory (readdir and an lstat per
 * child) was about a tenth of that thread. The walker names the subdirectories it is about to
 * enter (`expect`); a few of them at a time are listed in the pool (the native addon's
 * listDirectoryAhead) while the main thread works through the current directory, and the
 * walker takes the listing when it gets there.
 *
 * The walk goes depth-first, so the newest group of subdirectories is listed first. Listings
 * started or finished but not yet taken are at most WINDOW: memory stays bounded whatever the
 * tree. A listing is made at most a few directories earlier than the walk would have made it,
 * as the prewalk's are made earlier still; one the pool could not make (null: unreadable, or
 * the engine out of memory) is made again by the walker, which reports the error its usual way.
 */
import { native } from "../../util/native.js";
import type { PackedListing } from "./listing.js";

/** Subdirectories listed or being listed ahead at once: enough to keep one pool thread busy. */
export const WINDOW = 8;

export type ListAhead = (path: Buffer) => Promise<PackedListing | null>;

export class ListingsAhead {
  readonly #list: ListAhead;
  /** Paths still to list, a group per directory walked, the newest group last. */
  readonly #groups: Buffer[][] = [];
  /** The keys of the paths in #groups that are still wanted (latin1: one per byte string). */
  readonly #queued = new Set<string>();
  /** Listings started and not yet taken, by key. */
  readonly #started = new Map<string, Promise<PackedListing | null>>();

  constructor(list: ListAhead) {
    this.#list = list;
  }

  /** The walk will enter these subdirectories of one directory, in this order. */
  expect(paths: readonly Buffer[]): void {
    if (paths.length === 0) return;
    for (const path of paths) this.#queued.add(path.toString("latin1"));
    this.#groups.push([...paths].reverse());
    this.#fill();
  }

  /**
   * The listing of `path` made ahead (null when the pool could not make it), or undefined when
   * none was started: the caller lists it itself, and it is not listed here any more.
   */
  take(path: Buffer): Promise<PackedListing | null> | undefined {
    const key = path.toString("latin1");
    const started = this.#started.get(key);
    if (started === undefined) {
      this.#queued.delete(key);
      return undefined;
    }
    this.#started.delete(key);
    this.#fill();
    return started;
  }

  /**
   * The walk has left the directory whose subdirectories these are: whatever of them it did not
   * take (a walk cut short) is dropped, so it holds no room in the window.
   */
  finished(paths: readonly Buffer[]): void {
    for (const path of paths) {
      const key = path.toString("latin1");
      this.#queued.delete(key);
      this.#started.delete(key);
    }
    this.#fill();
  }

  /** How many listings are started and not taken (at most WINDOW). */
  get inFlight(): number {
    return this.#started.size;
  }

  #fill(): void {
    while (this.#started.size < WINDOW && this.#groups.length > 0) {
      const group = this.#groups[this.#groups.length - 1] as Buffer[];
      const path = group.pop();
      if (group.length === 0) this.#groups.pop();
      if (path === undefined) continue;
      const key = path.toString("latin1");
      if (!this.#queued.delete(key)) continue;
      const listing = this.#list(path);
      // Taken later or never (a walk cut short): a rejection must not go unhandled.
      listing.catch(() => undefined);
      this.#started.set(key, listing);
    }
  }
}

/** Listings ahead through the native addon; undefined when the addon (or this call) is missing. */
export function nativeListingsAhead(): ListingsAhead | undefined {
  const list = native?.listDirectoryAhead;
  return list === undefined ? undefined : new ListingsAhead(list);
}
