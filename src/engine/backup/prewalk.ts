/**
 * Listing the sources while the repository unlocks. Connecting and deriving the key take half
 * a second to a second in which the main thread has nothing to do (scrypt runs in the thread
 * pool, ssh and `serve` in their own processes); a backup that finds nothing changed spends
 * about half a second in readdir() and lstat(). The prewalk fills that time: it lists directories
 * depth-first, in short slices so the unlock's messages are still answered promptly, and
 * keeps each listing (names and packed stats) for the archiver, which takes them instead of
 * asking the file system again.
 *
 * It needs no key and sends nothing: it only reads metadata the archiver would read anyway,
 * and a directory it did not reach is listed by the archiver as before. What it holds is
 * bounded by PREWALK_MAX_ENTRIES, and it stops for good when the archiver starts.
 */
import { readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { joinPath } from "../fs-names.js";
import { scopeCacheTag } from "./cache-tags.js";
import {
  childRelative,
  ExcludeMatcher,
  IGNORE_FILE_NAME,
  type ExcludeOptions,
} from "./excludes.js";
import { hasIgnoreFile } from "./dir-digest.js";
import {
  packedIsDirectory,
  packedName,
  readPackedListing,
  type PackedListing,
} from "./listing.js";

/** Entries held at most: about 15 MiB with their names, twice the benchmark's 43k entries. */
export const PREWALK_MAX_ENTRIES = 96 * 1024;
/** How long one slice may keep the event loop before letting the unlock's callbacks run. */
const SLICE_MS = 4;

/** A directory's listing made ahead of time, or the error listing it gave. */
export type PrewalkResult = PackedListing | { readonly error: unknown };

interface Pending {
  readonly path: Buffer;
  /** Relative to the source root, as the exclusion rules see it. */
  readonly relative: string;
  readonly matcher: ExcludeMatcher;
}

/** Reads a directory's .blindsyncignore into its matcher; on any failure the archiver warns. */
function scoped(directory: Pending, listing: PackedListing): ExcludeMatcher {
  if (!hasIgnoreFile(listing)) return directory.matcher;
  try {
    const content = readFileSync(
      joinPath(directory.path, Buffer.from(IGNORE_FILE_NAME)),
      "utf8",
    );
    return directory.matcher.withIgnoreFile(directory.relative, content);
  } catch {
    return directory.matcher;
  }
}

export class Prewalk {
  private readonly listings = new Map<string, PrewalkResult>();
  /** Directories still to list, the next one last (depth-first, in readdir order). */
  private readonly stack: Pending[];
  private readonly maxEntries: number;
  private entries = 0;
  private timer: NodeJS.Immediate | undefined;
  private markSettled: () => void = () => undefined;
  /** Resolves once the prewalk has stopped: done, at its bound, or stopped. */
  readonly settled = new Promise<void>((resolve) => {
    this.markSettled = resolve;
  });

  private constructor(roots: Pending[], maxEntries: number) {
    this.stack = roots.reverse();
    this.maxEntries = maxEntries;
    this.schedule();
  }

  /**
   * Starts listing the sources the way the archiver will walk them: one directory source is
   * the root itself, several each sit under their base name (Archiver.run).
   */
  static start(
    sources: readonly string[],
    excludes: readonly string[],
    maxEntries = PREWALK_MAX_ENTRIES,
    options: ExcludeOptions = {},
  ): Prewalk {
    const matcher = ExcludeMatcher.fromPatterns(excludes, options);
    const resolved = sources.map((source) => resolve(source));
    const roots = resolved.map((path) => ({
      path: Buffer.from(path),
      relative: resolved.length === 1 ? "" : basename(path),
      matcher,
    }));
    return new Prewalk(roots, maxEntries);
  }

  /** The listing of `path` if the prewalk made one; it is handed over only once. */
  take(path: Buffer): PrewalkResult | undefined {
    const key = path.toString("latin1");
    const found = this.listings.get(key);
    this.listings.delete(key);
    return found;
  }

  /** Ends the prewalk: nothing more is listed, and listings never taken are let go. */
  stop(): void {
    if (this.timer !== undefined) clearImmediate(this.timer);
    this.timer = undefined;
    this.stack.length = 0;
    this.markSettled();
  }

  /** Drops every listing not taken yet (the archiver has finished walking). */
  clear(): void {
    this.stop();
    this.listings.clear();
  }

  private schedule(): void {
    if (this.stack.length === 0 || this.entries >= this.maxEntries) {
      this.stop();
      return;
    }
    this.timer = setImmediate(() => {
      this.slice();
    });
  }

  private slice(): void {
    const until = performance.now() + SLICE_MS;
    while (
      this.stack.length > 0 &&
      this.entries < this.maxEntries &&
      performance.now() < until
    ) {
      this.listOne(this.stack.pop() as Pending);
    }
    this.schedule();
  }

  private listOne(directory: Pending): void {
    const key = directory.path.toString("latin1");
    let listing: PackedListing;
    try {
      listing = readPackedListing(directory.path);
    } catch (error) {
      this.listings.set(key, { error });
      return;
    }
    this.listings.set(key, listing);
    this.entries += listing.ends.length;
    const matcher = scopeCacheTag(
      scoped(directory, listing),
      directory.path,
      directory.relative,
      listing,
    );
    const children: Pending[] = [];
    for (let index = 0; index < listing.ends.length; index++) {
      if (!packedIsDirectory(listing, index)) continue;
      const name = packedName(listing, index);
      const relative = childRelative(directory.relative, name);
      if (matcher.excludes(relative, true)) continue;
      children.push({
        path: joinPath(directory.path, name),
        relative,
        matcher,
      });
    }
    // Pushed last-first, so the first child is listed next: the archiver's order.
    for (const child of children.reverse()) this.stack.push(child);
  }
}
