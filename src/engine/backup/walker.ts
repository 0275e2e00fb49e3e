/**
 * The walker: walks the sources depth-first and decides, entry by entry, what has to be read.
 * A directory whose listing and subtrees match what an earlier run recorded (the directory
 * cache) is taken whole from that record; a file whose identity matches the files cache reuses
 * its recorded chunks; everything else goes to the file saver (files) or is walked (directories),
 * and each directory's entries go to the tree saver, bottom-up. A file small enough to go
 * inline in its tree (inline-files.ts), while its directory's inline budget lasts, needs its
 * bytes whenever its directory is walked: it is read again, or, when asked
 * (BackupOptions.reuseEarlierTrees) and the files cache knows it unchanged, its bytes come
 * from the directory's earlier tree.
 *
 * Names are bytes from start to finish (Buffer paths), so any name Linux allows survives.
 * Memory holds one directory listing per level of depth: never the whole tree.
 *
 * About 600 lines with one job, the walk: its three listing sources (prewalk, listing,
 * native), two caches and the earlier trees' inline files meet in one recursion, which reads
 * worse split than whole.
 */
import { readFile } from "node:fs/promises";
import { lstatSync, readlinkSync } from "node:fs";
import { describeError } from "../../errors.js";
import { bytesEqual } from "../../util/bytes.js";
import {
  type CachedContent,
  type ClientCache,
  type DirRecord,
  type FileEntry,
  type InlineFileEntry,
  type Repository,
  type TreeEntry,
} from "../../repo/index.js";
import type { BlobId } from "../../store/index.js";
import { joinPath } from "../fs-names.js";
import {
  childRelative,
  IGNORE_FILE_NAME,
  type ExcludeMatcher,
} from "./excludes.js";
import { scopeCacheTag } from "./cache-tags.js";
import { Limiter, mapConcurrently } from "./concurrency.js";
import {
  packedName,
  packedStat,
  readPackedListing,
  unpackListing,
  type EntryStat,
  type PackedListing,
} from "./listing.js";
import {
  directTotals,
  hasIgnoreFile,
  keptChildren,
  subdirsOf,
  subtreesDigest,
  type SubtreeOf,
} from "./dir-digest.js";
import {
  dirEntry,
  fifoEntry,
  fileEntry,
  isFifo,
  symlinkEntry,
} from "./entries.js";
import { identityOf } from "./file-identity.js";
import {
  InlineBudget,
  isInlineSize,
  previousInlineFiles,
  reusableInline,
  type FileRead,
} from "./inline-files.js";
import { StoreFailure, type FileSaver } from "./file-saver.js";
import type { Prewalk } from "./prewalk.js";

/** Whether lstat() saw a regular file that goes inline (inline-files.ts). */
function isInlineFile(stat: EntryStat | Error | undefined): boolean {
  return (
    stat !== undefined &&
    !(stat instanceof Error) &&
    stat.isFile() &&
    isInlineSize(stat.size)
  );
}
import {
  BATCHED_FILE_MAX,
  SmallFileBatches,
  type BatchTicket,
} from "./small-file-batch.js";
import type { TreeSaver } from "./tree-saver.js";
import type { BackupProgress, BackupSink, BackupTally } from "./types.js";

/** A child's entry still to be made: a file to read, or (`subdirectory`) a directory to walk. */
type Pending = (() => Promise<TreeEntry | undefined>) & {
  readonly subdirectory?: boolean;
};

/** Files read at once: enough to hide open/read latency of small files, few enough buffers. */
const FILES_IN_FLIGHT = 4;
const BATCHED_FILE_MAX_BIG = BigInt(BATCHED_FILE_MAX);
/** Entries of one directory stat-ed and walked at once. */
const CHILDREN_IN_FLIGHT = 8;
/**
 * Directories whose files are read at once (each holds up to two batches of them, 1 MiB each
 * at most): without a bound a first backup held about 100 batches at its peak (docs/
 * performance.md, "Directories reading at once"). Eight was as fast as no bound.
 */
export const DIRS_READING = 8;

function printable(path: Buffer): string {
  return JSON.stringify(path.toString("utf8")).slice(1, -1);
}

/** What a walker works with: the run's counters and sink, the caches, the other stages. */
export interface WalkerParts {
  /**
   * Computes the checksum of a file the files cache knows with an older kind, and loads a
   * directory's earlier tree for its unchanged inline files.
   */
  readonly repo: Pick<Repository, "fileChecksum" | "loadTree">;
  readonly tally: BackupTally;
  readonly sink: BackupSink;
  readonly cache: ClientCache;
  readonly dryRun: boolean;
  readonly prewalk: Prewalk | undefined;
  readonly fileSaver: FileSaver;
  readonly treeSaver: TreeSaver;
  /** The blob saver's new bytes so far, for progress. */
  readonly bytesAdded: () => number;
  /** BackupOptions.reuseEarlierTrees: false reads unchanged inline files again instead. */
  readonly reuseEarlierTrees: boolean;
}

export class Walker {
  readonly #tally: BackupTally;
  readonly #parts: WalkerParts;
  /** Files being read at once: overlaps opens, reads and hashing across small files. */
  readonly #fileSlots = new Limiter(FILES_IN_FLIGHT);
  /** Directories reading their files at once (their batches are what they hold). */
  readonly #readingDirs = new Limiter(DIRS_READING);
  /** The file whose read started last, for a live display (BackupSink.reading). */
  #reading: Buffer | undefined;

  constructor(parts: WalkerParts) {
    this.#parts = parts;
    this.#tally = parts.tally;
  }

  /** One source named on the command line, as a tree entry (undefined if skipped). */
  async source(
    path: string,
    name: string,
    matcher: ExcludeMatcher,
  ): Promise<TreeEntry | undefined> {
    const inspected = this.#inspect(
      Buffer.from(path),
      new Uint8Array(Buffer.from(name)),
      name,
      matcher,
    );
    return typeof inspected === "function" ? await inspected() : inspected;
  }

  #warn(path: Buffer, what: string, error: unknown): void {
    this.#tally.warnings += 1;
    this.#parts.sink.warn(
      `Skipped "${printable(path)}": ${what}: ${describeError(error)}`,
    );
  }

  #report(current: Buffer): void {
    this.#parts.sink.progress(this.#progress(current));
  }

  #progress(current: Buffer): BackupProgress {
    const { files, dirs, bytes } = this.#tally;
    return {
      files,
      dirs,
      bytes,
      bytesAdded: this.#parts.bytesAdded(),
      current: printable(current),
    };
  }

  /** Tells a live display the counters, naming the file being read (after each chunk read). */
  reportReading(): void {
    const { sink } = this.#parts;
    if (sink.reading === undefined || this.#reading === undefined) return;
    sink.reading(this.#progress(this.#reading));
  }

  /** The entry of a file the files cache knows unchanged, without reading it; else undefined. */
  #knownFile(
    path: Buffer,
    name: Uint8Array,
    stat: EntryStat,
  ): FileEntry | undefined {
    // A dry run writes nothing, not even the mark that keeps a cache row.
    const cached = this.#parts.dryRun
      ? this.#parts.cache.lookupFile(path, identityOf(stat))
      : this.#parts.cache.reuseFile(path, identityOf(stat));
    // A row recorded when the file went inline names no blob: read it again as a data blob
    // (the directory's inline budget ran out before it this time).
    if (cached === undefined || (cached.content.length === 0 && stat.size > 0n))
      return undefined;
    const size = Number(stat.size);
    this.#tally.bytes += size;
    this.#tally.files += 1;
    // A row from before the chunk-ids kind holds a SHA-256: the snapshot gets the kind backups
    // write, computed from the recorded chunk ids (32 bytes a chunk, the file is not read).
    if (cached.checksum.kind !== "chunk-ids")
      return fileEntry(name, stat, size, {
        content: cached.content,
        checksum: this.#parts.repo.fileChecksum(size, cached.content),
      });
    return fileEntry(name, stat, size, cached);
  }

  /**
   * The files cache's row of a file that goes inline, when it knows the file unchanged
   * (marking the row seen, as for any known file): the file counts as unchanged, and its bytes
   * come from the directory's earlier tree when that holds the ones the row vouches for.
   */
  #knownInline(path: Buffer, stat: EntryStat): CachedContent | undefined {
    const { cache, dryRun } = this.#parts;
    const identity = identityOf(stat);
    return dryRun
      ? cache.lookupFile(path, identity)
      : cache.reuseFile(path, identity);
  }

  /**
   * Reads a new or changed file, or one that goes inline; undefined (with a warning) when it
   * cannot be read. `inline`: its directory's budget took it (its bytes go inline if they
   * still fit once read). A small file's bytes come from its directory's batch (`batched`)
   * when the batch read it in full. `known`: the files cache knows it unchanged (an inline
   * file).
   */
  async #readFileEntry(
    path: Buffer,
    name: Uint8Array,
    stat: EntryStat,
    inline: boolean,
    batched?: { batches: SmallFileBatches; ticket: BatchTicket },
    known = false,
  ): Promise<FileEntry | undefined> {
    const identity = identityOf(stat);
    // Asked before the read: the read's own record must not make a new file look known.
    const change = known
      ? "unchanged"
      : this.#parts.cache.hasFile(path)
        ? "changed"
        : "new";
    let read: FileRead;
    try {
      const { fileSaver } = this.#parts;
      // The batch reads ahead outside the slots; a file's slot still bounds how many files
      // queue chunks in the blob saver at once (each may hold a batch past its bounds).
      const whole = await batched?.batches.take(batched.ticket);
      read = await this.#fileSlots.run(() => {
        this.#reading = path;
        this.reportReading();
        return whole === undefined
          ? fileSaver.read(path, identity, inline)
          : fileSaver.saveRead(whole, inline);
      });
    } catch (error) {
      // Only the file's own read errors skip it; a failing store ends the backup.
      if (error instanceof StoreFailure) throw error.cause;
      this.#warn(path, "cannot read file", error);
      return undefined;
    }
    const cached = { content: read.content, checksum: read.checksum };
    this.#tally.files += 1;
    // Its row is as it was (and marked seen): nothing to record, nothing to tell.
    if (change === "unchanged" && read.size === identity.size)
      return fileEntry(name, stat, read.size, cached, read.inline);
    // A file that changed while being read is stored as read, but not cached as unchanged.
    if (read.size === identity.size)
      this.#parts.treeSaver.fileRead(path, identity, cached);
    if (change === "new") this.#tally.filesNew += 1;
    else this.#tally.filesChanged += 1;
    this.#parts.sink.saved?.({
      path,
      change: change === "new" ? "new" : "changed",
    });
    return fileEntry(name, stat, read.size, cached, read.inline);
  }

  /**
   * Turns one directory into a tree blob (queued) and returns its id, or undefined if
   * unreadable. A directory whose listing and subdirectories' trees match what an earlier run
   * recorded (the directory cache, ClientCache.lookupDir) gets that run's tree back without a
   * look at its files; the rest is walked entry by entry.
   */
  async directory(
    path: Buffer,
    relative: string,
    matcher: ExcludeMatcher,
  ): Promise<BlobId | undefined> {
    let packed: PackedListing;
    try {
      // Synchronous: metadata calls are too quick for the thread pool.
      const early = this.#parts.prewalk?.take(path);
      if (early !== undefined && "error" in early) throw early.error;
      packed = early ?? readPackedListing(path);
    } catch (error) {
      this.#warn(path, "cannot list directory", error);
      return undefined;
    }
    // Anything reported below (here or in a subdirectory) keeps this directory out of the
    // cache, so that the next run looks again and reports it again.
    const reportedBefore = this.#tally.warnings + this.#tally.notices;
    let scoped = matcher;
    if (hasIgnoreFile(packed)) {
      try {
        scoped = matcher.withIgnoreFile(
          relative,
          await readFile(joinPath(path, Buffer.from(IGNORE_FILE_NAME)), "utf8"),
        );
      } catch (error) {
        this.#warn(path, `cannot read ${IGNORE_FILE_NAME}`, error);
      }
    }
    scoped = scopeCacheTag(scoped, path, relative, packed);
    const kept = keptChildren(packed, relative, scoped);
    const record =
      kept === undefined ? undefined : this.#parts.cache.lookupDir(path);
    let walked: Map<number, BlobId | undefined> | undefined;
    if (
      kept !== undefined &&
      record !== undefined &&
      bytesEqual(record.listing, kept.listing)
    ) {
      // Every child is as recorded: only a subdirectory can have changed, so those come first.
      walked = await this.#walkSubdirs(
        path,
        relative,
        scoped,
        packed,
        kept.dirs,
      );
      if (this.#sameSubtrees(packed, kept.dirs, walked, record)) {
        this.#parts.cache.reusedDir(record);
        this.#tally.files += record.files;
        this.#tally.bytes += record.bytes;
        this.#tally.dirs += 1;
        this.#report(path);
        return record.tree;
      }
    }
    const entries = await this.#walkEntries(
      path,
      relative,
      scoped,
      packed,
      walked,
      record?.tree,
    );
    this.#tally.dirs += 1;
    const tree = await this.#parts.treeSaver.save(entries);
    const quiet = this.#tally.warnings + this.#tally.notices === reportedBefore;
    await this.#parts.treeSaver.dirDone(
      path,
      kept === undefined || !quiet
        ? undefined
        : {
            listing: kept.listing,
            subtrees: subtreesDigest(subdirsOf(entries)),
            tree,
            ...directTotals(entries),
          },
    );
    this.#report(path);
    return tree;
  }

  /** The subdirectories at `indexes` of a listing, walked: their trees by listing index. */
  async #walkSubdirs(
    path: Buffer,
    relative: string,
    matcher: ExcludeMatcher,
    packed: PackedListing,
    indexes: readonly number[],
  ): Promise<Map<number, BlobId | undefined>> {
    const subtrees = await mapConcurrently(
      indexes,
      CHILDREN_IN_FLIGHT,
      (index) => {
        const name = packedName(packed, index);
        const childRelativePath = childRelative(relative, name);
        return this.directory(
          joinPath(path, name),
          childRelativePath,
          matcher.forDirectory(childRelativePath, packedStat(packed, index)),
        );
      },
    );
    return new Map(
      indexes.map((index, position) => [index, subtrees[position]]),
    );
  }

  /** Whether every subdirectory was walked and their trees are the ones `record` names. */
  #sameSubtrees(
    packed: PackedListing,
    indexes: readonly number[],
    walked: Map<number, BlobId | undefined>,
    record: DirRecord,
  ): boolean {
    const named: SubtreeOf[] = [];
    for (const index of indexes) {
      const subtree = walked.get(index);
      if (subtree === undefined) return false;
      named.push({ name: packedName(packed, index), subtree });
    }
    return bytesEqual(record.subtrees, subtreesDigest(named));
  }

  /**
   * The tree entries of one directory's children, file by file. `walked` holds the subtrees
   * already made for its subdirectories, if any; `previousTree` is the tree an earlier run
   * made of it, whose inline files' bytes may be taken again (the directory cache's record).
   */
  async #walkEntries(
    path: Buffer,
    relative: string,
    matcher: ExcludeMatcher,
    packed: PackedListing,
    walked: Map<number, BlobId | undefined> | undefined,
    previousTree: BlobId | undefined,
  ): Promise<TreeEntry[]> {
    const listing = unpackListing(path, packed);
    const previous =
      this.#parts.reuseEarlierTrees &&
      previousTree !== undefined &&
      listing.stats.some(isInlineFile)
        ? await previousInlineFiles(this.#parts.repo, previousTree)
        : undefined;
    // Everything that needs no I/O beyond lstat (unchanged files, symlinks, exclusions) is
    // settled here without a promise; only subdirectories and files to read wait their turn,
    // the small files among those read in batches ahead of their turn.
    const batches = new SmallFileBatches(
      undefined,
      this.#parts.fileSaver.digestBatch,
    );
    const inline = new InlineBudget();
    const entries: TreeEntry[] = [];
    const files: Pending[] = [];
    const subdirs: Pending[] = [];
    for (const [index, name] of listing.names.entries()) {
      const stat = listing.stats[index];
      if (walked?.has(index) === true && stat !== undefined) {
        const subtree = walked.get(index);
        if (subtree !== undefined && !(stat instanceof Error))
          entries.push(dirEntry(new Uint8Array(name), stat, subtree));
        continue;
      }
      const inspected = this.#inspect(
        joinPath(path, name),
        new Uint8Array(name),
        childRelative(relative, name),
        matcher,
        stat,
        { batches, previous, inline },
      );
      if (typeof inspected === "function")
        (inspected.subdirectory ? subdirs : files).push(inspected);
      else if (inspected !== undefined) entries.push(inspected);
    }
    const run = (job: Pending): Promise<TreeEntry | undefined> => job();
    // Files and subdirectories each go their own way, the files of at most DIRS_READING
    // directories at once: a first backup walks hundreds of directories at once, and each
    // read its first batch at once. Files queued behind a subdirectory's walk would hold the
    // directory's place (and its batch) for all of that walk.
    const found = await Promise.all([
      files.length === 0
        ? []
        : this.#readingDirs.run(() => {
            batches.start();
            return mapConcurrently(files, CHILDREN_IN_FLIGHT, run);
          }),
      mapConcurrently(subdirs, CHILDREN_IN_FLIGHT, run),
    ]);
    for (const entry of found.flat())
      if (entry !== undefined) entries.push(entry);
    return entries;
  }

  /**
   * One directory entry: its tree entry when it is settled at once (undefined when it is
   * skipped, with any warning given), or the asynchronous work that will produce it.
   * `listed` is what the prewalk's lstat() gave, if it reached this entry; `within` is what its
   * directory's walk offers: a small file to read joins its batches, goes inline while the
   * directory's inline budget lasts, and when unchanged may take its bytes from the
   * directory's earlier tree. A source named on the command line has no budget.
   */
  #inspect(
    path: Buffer,
    name: Uint8Array,
    relative: string,
    matcher: ExcludeMatcher,
    listed?: EntryStat | Error,
    within?: {
      readonly batches: SmallFileBatches;
      readonly previous: ReadonlyMap<string, InlineFileEntry> | undefined;
      readonly inline: InlineBudget;
    },
  ): TreeEntry | undefined | Pending {
    const batches = within?.batches;
    let stat: EntryStat;
    try {
      if (listed instanceof Error) throw listed;
      stat = listed ?? lstatSync(path, { bigint: true });
    } catch (error) {
      this.#warn(path, "cannot stat", error);
      return undefined;
    }
    if (matcher.excludes(relative, stat)) return undefined;
    if (stat.isDirectory()) {
      const walk = async (): Promise<TreeEntry | undefined> => {
        const subtree = await this.directory(
          path,
          relative,
          matcher.forDirectory(relative, stat),
        );
        return subtree === undefined
          ? undefined
          : dirEntry(name, stat, subtree);
      };
      return Object.assign(walk, { subdirectory: true });
    }
    if (stat.isFile()) {
      const inline =
        within === undefined
          ? isInlineSize(stat.size)
          : within.inline.take(stat.size);
      if (inline) {
        const cached = this.#knownInline(path, stat);
        const size = Number(stat.size);
        const reused =
          cached === undefined
            ? undefined
            : reusableInline(within?.previous, name, size, cached);
        if (cached !== undefined && reused !== undefined) {
          this.#tally.files += 1;
          this.#tally.bytes += size;
          return fileEntry(name, stat, size, cached, reused.inline);
        }
        const known = cached !== undefined;
        if (batches === undefined)
          return () =>
            this.#readFileEntry(path, name, stat, true, undefined, known);
        const ticket = batches.add(path, size, true);
        return () =>
          this.#readFileEntry(
            path,
            name,
            stat,
            true,
            { batches, ticket },
            known,
          );
      }
      const known = this.#knownFile(path, name, stat);
      if (known !== undefined) return known;
      if (batches === undefined || stat.size > BATCHED_FILE_MAX_BIG)
        return () => this.#readFileEntry(path, name, stat, false);
      const ticket = batches.add(path, Number(stat.size), false);
      return () =>
        this.#readFileEntry(path, name, stat, false, { batches, ticket });
    }
    if (stat.isSymbolicLink()) {
      try {
        return symlinkEntry(
          name,
          stat,
          readlinkSync(path, { encoding: "buffer" }),
        );
      } catch (error) {
        this.#warn(path, "cannot read symlink", error);
        return undefined;
      }
    }
    // A named pipe is stored as restic stores it, metadata only: never opened, since a read
    // would wait for a writer that may never come.
    if (isFifo(stat)) return fifoEntry(name, stat);
    this.#tally.notices += 1;
    this.#parts.sink.warn(
      `Skipped "${printable(path)}": not a regular file, directory, symlink or fifo`,
    );
    return undefined;
  }
}
