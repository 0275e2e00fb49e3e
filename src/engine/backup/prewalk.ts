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
 * bounded by PREWALK_MAX_ENTRIES, and it stops keeping listings when the archiver starts.
 *
 * Asked to (`scan`, for a progress display), it also counts what the walk will find, files and
 * bytes, with the same exclusion rules, and goes on counting the rest of the tree after it has
 * stopped keeping listings, beside the archiver, as restic's scanner does: the total a
 * progress bar and its ETA need. Without a display nothing is counted past the listings, so a
 * scripted backup pays nothing for it.
 */
import { lstatSync, readFileSync, type BigIntStats } from "node:fs";
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
  packedStat,
  readPackedListing,
  type PackedListing,
} from "./listing.js";

/** Entries held at most: about 15 MiB with their names, twice the benchmark's 43k entries. */
export const PREWALK_MAX_ENTRIES = 96 * 1024;
/** How long one slice may keep the event loop before letting the unlock's callbacks run. */
const SLICE_MS = 4;

/** A directory's listing made ahead of time, or the error listing it gave. */
export type PrewalkResult = PackedListing | { readonly error: unknown };

export interface PrewalkOptions extends ExcludeOptions {
  /** Count the files and bytes of the whole walk (WalkTotals), not only while listing. */
  readonly scan?: boolean;
}

/** What the walk will find, as far as the scan has got. */
export interface WalkTotals {
  readonly files: number;
  readonly bytes: number;
  /** True once the whole tree is counted: until then the totals only grow. */
  readonly complete: boolean;
}

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
  /** Listings are kept until the bound or stop(); a scan goes on counting after that. */
  private keeping = true;
  private readonly scan: boolean;
  /** Counted so far (by a scan): regular files the walk keeps, and their sizes. */
  private readonly counted: { files: number; bytes: number };
  /** The tree was counted to its end (not merely cleared). */
  private complete = false;
  private timer: NodeJS.Immediate | undefined;
  private markSettled: () => void = () => undefined;
  /** Resolves once the prewalk keeps no more listings: done, at its bound, or stopped. */
  readonly settled = new Promise<void>((resolve) => {
    this.markSettled = resolve;
  });
  private markScanned: () => void = () => undefined;
  /** Resolves once the scan has counted the whole tree, or was cleared (see `totals`). */
  readonly scanned = new Promise<void>((resolve) => {
    this.markScanned = resolve;
  });

  private constructor(
    roots: Pending[],
    maxEntries: number,
    scan: boolean,
    rootFiles: { files: number; bytes: number },
  ) {
    this.stack = roots.reverse();
    this.maxEntries = maxEntries;
    this.scan = scan;
    this.counted = rootFiles;
    this.schedule();
  }

  /** The walk's totals as counted so far; undefined unless started with `scan`. */
  get totals(): WalkTotals | undefined {
    if (!this.scan) return undefined;
    return { ...this.counted, complete: this.complete };
  }

  /**
   * Starts listing the sources the way the archiver will walk them: one directory source is
   * the root itself, several each sit under their base name (Archiver.run).
   */
  static start(
    sources: readonly string[],
    excludes: readonly string[],
    maxEntries = PREWALK_MAX_ENTRIES,
    options: PrewalkOptions = {},
  ): Prewalk {
    const matcher = ExcludeMatcher.fromPatterns(excludes, options);
    const resolved = sources.map((source) => resolve(source));
    const roots: Pending[] = [];
    const rootFiles = { files: 0, bytes: 0 };
    for (const path of resolved) {
      const relative = resolved.length === 1 ? "" : basename(path);
      let stat: BigIntStats;
      try {
        stat = lstatSync(path, { bigint: true });
      } catch {
        // The archiver reports it; listed here only to record the same error for it.
        roots.push({ path: Buffer.from(path), relative, matcher });
        continue;
      }
      if (stat.isDirectory()) {
        roots.push({
          path: Buffer.from(path),
          relative,
          matcher: matcher.forSource(stat),
        });
      } else if (stat.isFile() && !matcher.excludes(relative, stat)) {
        rootFiles.files += 1;
        rootFiles.bytes += Number(stat.size);
      }
    }
    return new Prewalk(roots, maxEntries, options.scan === true, rootFiles);
  }

  /** The listing of `path` if the prewalk made one; it is handed over only once. */
  take(path: Buffer): PrewalkResult | undefined {
    const key = path.toString("latin1");
    const found = this.listings.get(key);
    this.listings.delete(key);
    return found;
  }

  /**
   * Stops keeping listings (the archiver starts walking): a scan goes on counting, anything
   * else ends here.
   */
  stop(): void {
    this.keeping = false;
    this.markSettled();
    if (this.scan && this.stack.length > 0) return;
    this.end();
  }

  /** Ends everything and drops every listing not taken yet (the archiver has finished). */
  clear(): void {
    this.end();
    this.listings.clear();
  }

  private end(): void {
    if (this.timer !== undefined) clearImmediate(this.timer);
    this.timer = undefined;
    this.stack.length = 0;
    this.keeping = false;
    this.markSettled();
    this.markScanned();
  }

  /** Whether listing stops here: nothing left, or only counting left and no scan asked. */
  private done(): boolean {
    if (this.entries >= this.maxEntries) this.keeping = false;
    return this.stack.length === 0 || (!this.keeping && !this.scan);
  }

  private schedule(): void {
    if (this.stack.length === 0) this.complete = true;
    if (this.done()) {
      this.end();
      return;
    }
    if (!this.keeping) this.markSettled();
    this.timer = setImmediate(() => {
      this.slice();
    });
  }

  private slice(): void {
    const until = performance.now() + SLICE_MS;
    while (!this.done() && performance.now() < until) {
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
      if (this.keeping) this.listings.set(key, { error });
      return;
    }
    if (this.keeping) {
      this.listings.set(key, listing);
      this.entries += listing.ends.length;
    }
    const matcher = scopeCacheTag(
      scoped(directory, listing),
      directory.path,
      directory.relative,
      listing,
    );
    const children: Pending[] = [];
    for (let index = 0; index < listing.ends.length; index++) {
      // Without a scan only directories matter here: the listing's other entries cost nothing.
      if (!this.scan && !packedIsDirectory(listing, index)) continue;
      if (listing.errors[index] !== 0) continue;
      const stat = packedStat(listing, index);
      const name = packedName(listing, index);
      const relative = childRelative(directory.relative, name);
      if (matcher.excludes(relative, stat)) continue;
      if (stat.isFile()) {
        this.counted.files += 1;
        this.counted.bytes += Number(stat.size);
      }
      if (!stat.isDirectory()) continue;
      children.push({
        path: joinPath(directory.path, name),
        relative,
        matcher: matcher.forDirectory(relative, stat),
      });
    }
    // Pushed last-first, so the first child is listed next: the archiver's order.
    for (const child of children.reverse()) this.stack.push(child);
  }
}
