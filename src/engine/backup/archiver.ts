/**
 * The archiver: walks the sources depth-first, turns each file into data blobs (read once,
 * chunked, hashed, queued for upload) and each directory into a tree blob, bottom-up, then
 * writes the snapshot once every blob it reaches is durable.
 *
 * Names are bytes from start to finish (Buffer paths), so any name Linux allows survives.
 * Memory holds one directory listing per level of depth, one read buffer and the blob saver's
 * bounded batch: never a whole file, never the repository's index.
 *
 * Length: over 400 lines because it still does two jobs, the walk (with the directory cache)
 * and the tree saver (trees, checkpoints, the snapshot commit); issue 18 splits them into
 * walker.ts and tree-saver.ts beside file-saver.ts and blob-saver.ts.
 */
import { readFile } from "node:fs/promises";
import { lstatSync, readlinkSync, type BigIntStats } from "node:fs";
import { hostname, userInfo } from "node:os";
import { basename, resolve } from "node:path";
import { BlindsyncError, describeError } from "../../errors.js";
import { bytesEqual } from "../../util/bytes.js";
import {
  MODE_MASK,
  advancePin,
  encodeTree,
  sortEntries,
  type CachedContent,
  type CompressionMode,
  type DirRecord,
  type FileIdentity,
  type ClientCache,
  type FileEntry,
  type Repository,
  type Snapshot,
  type TreeEntry,
} from "../../repo/index.js";
import type { BlobId } from "../../store/index.js";
import { describeHolders, withLock } from "../locking.js";
import { joinPath } from "../fs-names.js";
import { childRelative, ExcludeMatcher, IGNORE_FILE_NAME } from "./excludes.js";
import { Limiter, mapConcurrently } from "./concurrency.js";
import {
  packedName,
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
import type { Prewalk } from "./prewalk.js";
import { SealPool } from "./seal-pool.js";
import { BlobSaver } from "./blob-saver.js";
import { FileSaver, StoreFailure } from "./file-saver.js";

/** Files read at once: enough to hide open/read latency of small files, few enough buffers. */
const FILES_IN_FLIGHT = 4;
/** Entries of one directory stat-ed and walked at once. */
const CHILDREN_IN_FLIGHT = 8;
/**
 * Commit the files cache every so many files and directories, after flushing the blobs they
 * reference.
 */
const CACHE_CHECKPOINT_FILES = 5000;

export interface BackupProgress {
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  readonly bytesAdded: number;
  readonly current: string;
}

export interface BackupSink {
  progress(progress: BackupProgress): void;
  warn(message: string): void;
}

export interface BackupOptions {
  readonly repo: Repository;
  readonly cache: ClientCache;
  /** The newest head the client knows: the new snapshot follows it in the chain. */
  readonly head: Snapshot | undefined;
  readonly sources: readonly string[];
  readonly excludes?: readonly string[];
  readonly tags?: readonly string[];
  readonly time?: Date;
  readonly host?: string;
  readonly dryRun?: boolean;
  /** For every blob of the run: data, trees and the snapshot (default "auto"). */
  readonly compression?: CompressionMode;
  readonly sink: BackupSink;
  /** How long to wait for a prune's exclusive lock to go (default: fail at once, exit 11). */
  readonly lockWaitMs?: number;
  /**
   * Runs after every blob is durable and right before the snapshot is written. Tests use it
   * to interleave a prune deterministically; the lock check runs after it.
   */
  readonly beforeCommit?: () => Promise<void>;
  /** Listings made while the repository unlocked (prewalk.ts); stopped when the walk starts. */
  readonly prewalk?: Prewalk;
}

export interface BackupResult {
  /** Undefined for a dry run. */
  readonly snapshot: Snapshot | undefined;
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  readonly blobsAdded: number;
  readonly bytesAdded: number;
  readonly bytesStored: number;
  /** Files or directories that could not be read and were skipped. */
  readonly warnings: number;
}

function printable(path: Buffer): string {
  return JSON.stringify(path.toString("utf8")).slice(1, -1);
}

function identityOf(stat: EntryStat): FileIdentity {
  return {
    ino: stat.ino,
    size: Number(stat.size),
    mtimeNs: stat.mtimeNs,
    ctimeNs: stat.ctimeNs,
  };
}

function baseMeta(name: Uint8Array, stat: EntryStat) {
  return {
    name,
    mode: Number(stat.mode) & MODE_MASK,
    mtimeNs: stat.mtimeNs,
    uid: Number(stat.uid),
    gid: Number(stat.gid),
  };
}

/** A subdirectory's tree entry, whichever way its subtree was made. */
function dirEntry(
  name: Uint8Array,
  stat: EntryStat,
  subtree: BlobId,
): TreeEntry {
  return { ...baseMeta(name, stat), type: "dir", subtree };
}

class Archiver {
  private files = 0;
  private dirs = 0;
  private bytes = 0;
  private warnings = 0;
  /** Entries skipped with a message but not counted as warnings (sockets, devices, fifos). */
  private notices = 0;
  private readonly blobSaver: BlobSaver;
  private readonly fileSaver: FileSaver;
  private readonly options: BackupOptions;
  /** Files being read at once: overlaps opens, reads and hashing across small files. */
  private readonly fileSlots = new Limiter(FILES_IN_FLIGHT);
  /**
   * Files-cache records wait here until every chunk they name is durable in the store; a
   * checkpoint writes them only after a flush, so a crash never leaves the cache pointing at
   * blobs the repository does not have.
   */
  private unrecorded: {
    path: Buffer;
    identity: FileIdentity;
    cached: CachedContent;
  }[] = [];
  /** Directory-cache records, held back like `unrecorded` until their blobs are durable. */
  private unrecordedDirs: { path: Buffer; record: DirRecord }[] = [];

  constructor(options: BackupOptions, pool: SealPool | undefined) {
    this.options = options;
    this.blobSaver = new BlobSaver(options.repo, options.cache, {
      dryRun: options.dryRun ?? false,
      pool,
      compression: options.compression ?? "auto",
    });
    this.fileSaver = new FileSaver({
      repo: options.repo,
      cache: options.cache,
      pool,
      blobSaver: this.blobSaver,
      countBytes: (bytes) => {
        this.bytes += bytes;
      },
    });
  }

  private warn(path: Buffer, what: string, error: unknown): void {
    this.warnings += 1;
    this.options.sink.warn(
      `Skipped "${printable(path)}": ${what}: ${describeError(error)}`,
    );
  }

  private report(current: Buffer): void {
    this.options.sink.progress({
      files: this.files,
      dirs: this.dirs,
      bytes: this.bytes,
      bytesAdded: this.blobSaver.stats.bytesAdded,
      current: printable(current),
    });
  }

  private fileEntryFrom(
    name: Uint8Array,
    stat: EntryStat,
    size: number,
    cached: CachedContent,
  ): FileEntry {
    this.files += 1;
    // baseMeta()'s fields, written out rather than spread: this runs for every file of every
    // backup, and the spread cost 160 ms of B's 3.9 s main thread on the full corpus.
    const entry = {
      name,
      mode: Number(stat.mode) & MODE_MASK,
      mtimeNs: stat.mtimeNs,
      uid: Number(stat.uid),
      gid: Number(stat.gid),
      type: "file",
      size,
      sha256: cached.sha256,
      content: cached.content,
    } as const;
    return stat.nlink > 1n
      ? { ...entry, hardlink: { dev: stat.dev, ino: stat.ino } }
      : entry;
  }

  /** The entry of a file the files cache knows unchanged, without reading it; else undefined. */
  private knownFile(
    path: Buffer,
    name: Uint8Array,
    stat: EntryStat,
  ): FileEntry | undefined {
    const { cache } = this.options;
    // A dry run writes nothing, not even the mark that keeps a cache row.
    const cached =
      this.options.dryRun === true
        ? cache.lookupFile(path, identityOf(stat))
        : cache.reuseFile(path, identityOf(stat));
    if (cached === undefined) return undefined;
    const size = Number(stat.size);
    this.bytes += size;
    return this.fileEntryFrom(name, stat, size, cached);
  }

  /** Reads a new or changed file; undefined (with a warning) when it cannot be read. */
  private async readFileEntry(
    path: Buffer,
    name: Uint8Array,
    stat: EntryStat,
  ): Promise<FileEntry | undefined> {
    const identity = identityOf(stat);
    let read: CachedContent & { size: number };
    try {
      read = await this.fileSlots.run(() =>
        this.fileSaver.read(path, identity),
      );
    } catch (error) {
      // Only the file's own read errors skip it; a failing store ends the backup.
      if (error instanceof StoreFailure) throw error.cause;
      this.warn(path, "cannot read file", error);
      return undefined;
    }
    const cached = { content: read.content, sha256: read.sha256 };
    // A file that changed while being read is stored as read, but not cached as unchanged.
    if (read.size === identity.size)
      this.unrecorded.push({ path, identity, cached });
    return this.fileEntryFrom(name, stat, read.size, cached);
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
      const early = this.options.prewalk?.take(path);
      if (early !== undefined && "error" in early) throw early.error;
      packed = early ?? readPackedListing(path);
    } catch (error) {
      this.warn(path, "cannot list directory", error);
      return undefined;
    }
    // Anything reported below (here or in a subdirectory) keeps this directory out of the
    // cache, so that the next run looks again and reports it again.
    const reportedBefore = this.warnings + this.notices;
    let scoped = matcher;
    if (hasIgnoreFile(packed)) {
      try {
        scoped = matcher.withIgnoreFile(
          relative,
          await readFile(joinPath(path, Buffer.from(IGNORE_FILE_NAME)), "utf8"),
        );
      } catch (error) {
        this.warn(path, `cannot read ${IGNORE_FILE_NAME}`, error);
      }
    }
    const kept = keptChildren(packed, relative, scoped);
    const record =
      kept === undefined ? undefined : this.options.cache.lookupDir(path);
    let walked: Map<number, BlobId | undefined> | undefined;
    if (
      kept !== undefined &&
      record !== undefined &&
      bytesEqual(record.listing, kept.listing)
    ) {
      // Every child is as recorded: only a subdirectory can have changed, so those come first.
      walked = new Map();
      const subtrees = await mapConcurrently(
        kept.dirs,
        CHILDREN_IN_FLIGHT,
        (index) => {
          const name = packedName(packed, index);
          return this.directory(
            joinPath(path, name),
            childRelative(relative, name),
            scoped,
          );
        },
      );
      const named: SubtreeOf[] = [];
      for (const [position, index] of kept.dirs.entries()) {
        const subtree = subtrees[position];
        walked.set(index, subtree);
        if (subtree !== undefined)
          named.push({ name: packedName(packed, index), subtree });
      }
      if (
        named.length === kept.dirs.length &&
        bytesEqual(record.subtrees, subtreesDigest(named))
      ) {
        this.options.cache.reusedDir(record);
        this.files += record.files;
        this.bytes += record.bytes;
        this.dirs += 1;
        this.report(path);
        return record.tree;
      }
    }
    const entries = await this.walkEntries(
      path,
      relative,
      scoped,
      packed,
      walked,
    );
    this.dirs += 1;
    const tree = await this.queueTree(entries);
    if (
      kept !== undefined &&
      this.warnings + this.notices === reportedBefore &&
      this.options.dryRun !== true
    )
      this.unrecordedDirs.push({
        path,
        record: {
          listing: kept.listing,
          subtrees: subtreesDigest(subdirsOf(entries)),
          tree,
          ...directTotals(entries),
        },
      });
    if (
      this.unrecorded.length + this.unrecordedDirs.length >=
      CACHE_CHECKPOINT_FILES
    )
      await this.checkpoint();
    this.report(path);
    return tree;
  }

  /**
   * The tree entries of one directory's children, file by file. `walked` holds the subtrees
   * already made for its subdirectories, if any.
   */
  private async walkEntries(
    path: Buffer,
    relative: string,
    matcher: ExcludeMatcher,
    packed: PackedListing,
    walked: Map<number, BlobId | undefined> | undefined,
  ): Promise<TreeEntry[]> {
    const listing = unpackListing(path, packed);
    // Everything that needs no I/O beyond lstat (unchanged files, symlinks, exclusions) is
    // settled here without a promise; only subdirectories and files to read wait their turn.
    const entries: TreeEntry[] = [];
    const later: (() => Promise<TreeEntry | undefined>)[] = [];
    for (const [index, name] of listing.names.entries()) {
      const stat = listing.stats[index];
      if (walked?.has(index) === true && stat !== undefined) {
        const subtree = walked.get(index);
        if (subtree !== undefined && !(stat instanceof Error))
          entries.push(dirEntry(new Uint8Array(name), stat, subtree));
        continue;
      }
      const inspected = this.inspect(
        joinPath(path, name),
        new Uint8Array(name),
        childRelative(relative, name),
        matcher,
        stat,
      );
      if (typeof inspected === "function") later.push(inspected);
      else if (inspected !== undefined) entries.push(inspected);
    }
    const found = await mapConcurrently(later, CHILDREN_IN_FLIGHT, (job) =>
      job(),
    );
    for (const entry of found) if (entry !== undefined) entries.push(entry);
    return entries;
  }

  /**
   * One directory entry: its tree entry when it is settled at once (undefined when it is
   * skipped, with any warning given), or the asynchronous work that will produce it.
   * `listed` is what the prewalk's lstat() gave, if it reached this entry.
   */
  private inspect(
    path: Buffer,
    name: Uint8Array,
    relative: string,
    matcher: ExcludeMatcher,
    listed?: EntryStat | Error,
  ): TreeEntry | undefined | (() => Promise<TreeEntry | undefined>) {
    let stat: EntryStat;
    try {
      if (listed instanceof Error) throw listed;
      stat = listed ?? lstatSync(path, { bigint: true });
    } catch (error) {
      this.warn(path, "cannot stat", error);
      return undefined;
    }
    if (matcher.excludes(relative, stat.isDirectory())) return undefined;
    if (stat.isDirectory()) {
      return async () => {
        const subtree = await this.directory(path, relative, matcher);
        return subtree === undefined
          ? undefined
          : dirEntry(name, stat, subtree);
      };
    }
    if (stat.isFile()) {
      return (
        this.knownFile(path, name, stat) ??
        (() => this.readFileEntry(path, name, stat))
      );
    }
    if (stat.isSymbolicLink()) {
      try {
        const target = readlinkSync(path, { encoding: "buffer" });
        return {
          ...baseMeta(name, stat),
          type: "symlink",
          target: new Uint8Array(target),
        };
      } catch (error) {
        this.warn(path, "cannot read symlink", error);
        return undefined;
      }
    }
    this.notices += 1;
    this.options.sink.warn(
      `Skipped "${printable(path)}": not a regular file, directory or symlink`,
    );
    return undefined;
  }

  /** Set by backup(): confirms the lock right before the snapshot is written. */
  commitGate: () => Promise<void> = () => Promise.resolve();

  /** Encodes a directory and queues it; an unchanged directory has the same id and uploads nothing. */
  private async queueTree(entries: TreeEntry[]): Promise<BlobId> {
    const plaintext = encodeTree({ entries: sortEntries(entries) });
    const id = this.options.repo.blobId(plaintext);
    await this.blobSaver.add("tree", id, plaintext);
    return id;
  }

  /**
   * Makes every queued blob durable, then records the files whose chunks, and the directories
   * whose trees, are all stored.
   */
  private async checkpoint(final = false): Promise<void> {
    const ready = this.unrecorded;
    const readyDirs = this.unrecordedDirs;
    this.unrecorded = [];
    this.unrecordedDirs = [];
    await this.blobSaver.flush();
    if (this.options.dryRun === true) return;
    for (const record of ready)
      this.options.cache.recordFile(
        record.path,
        record.identity,
        record.cached,
      );
    for (const { path, record } of readyDirs)
      this.options.cache.recordDir(path, record);
    if (!final) this.options.cache.checkpointRun();
  }

  async run(): Promise<BackupResult> {
    const { options } = this;
    // From here on the walk lists by itself whatever the prewalk did not reach.
    options.prewalk?.stop();
    try {
      return await this.walkAndCommit();
    } finally {
      options.prewalk?.clear();
    }
  }

  private async walkAndCommit(): Promise<BackupResult> {
    const { options } = this;
    const sources = options.sources.map((source) => resolve(source));
    if (sources.length === 0)
      throw new BlindsyncError(
        "usage",
        "Nothing to back up: give at least one source",
      );
    const matcher = ExcludeMatcher.fromPatterns(options.excludes ?? []);
    let rootTree: BlobId | undefined;
    let root: BigIntStats | undefined;
    const first = sources[0] as string;
    const firstStat = statSource(first);
    if (sources.length === 1 && firstStat.isDirectory()) {
      root = firstStat;
      rootTree = await this.directory(Buffer.from(first), "", matcher);
      if (rootTree === undefined)
        throw new BlindsyncError(
          "failed",
          `Cannot read source directory "${first}"`,
        );
    } else {
      const names = new Set<string>();
      const entries: TreeEntry[] = [];
      for (const source of sources) {
        const name = basename(source);
        if (names.has(name)) {
          throw new BlindsyncError(
            "usage",
            `Two sources have the same name "${name}"`,
            {
              hint: "Each source is stored under its base name; back them up separately",
            },
          );
        }
        names.add(name);
        statSource(source);
        const inspected = this.inspect(
          Buffer.from(source),
          new Uint8Array(Buffer.from(name)),
          name,
          matcher,
        );
        const entry =
          typeof inspected === "function" ? await inspected() : inspected;
        if (entry !== undefined) entries.push(entry);
      }
      rootTree = await this.queueTree(entries);
    }
    // Every blob the snapshot reaches must be durable before the snapshot itself is written.
    await this.checkpoint(true);
    const stats = this.blobSaver.stats;
    const result = {
      files: this.files,
      dirs: this.dirs,
      bytes: this.bytes,
      blobsAdded: stats.blobsAdded,
      bytesAdded: stats.bytesAdded,
      bytesStored: stats.bytesStored,
      warnings: this.warnings,
    };
    if (options.dryRun === true) return { ...result, snapshot: undefined };
    await this.commitGate();
    const pinSeq = options.cache.pin?.lastSeq ?? 0;
    const snapshot = await options.repo.saveSnapshot(
      {
        seq: Math.max(options.head?.seq ?? 0, pinSeq) + 1,
        previous: options.head?.id ?? null,
        tree: rootTree,
        time: (options.time ?? new Date()).toISOString(),
        host: options.host ?? hostname(),
        username: safeUsername(),
        paths: sources,
        tags: [...(options.tags ?? [])],
        stats: {
          files: this.files,
          dirs: this.dirs,
          bytes: this.bytes,
          blobsAdded: stats.blobsAdded,
          bytesAdded: stats.bytesAdded,
        },
        ...(root === undefined ? {} : { root: rootMeta(root) }),
      },
      options.compression ?? "auto",
    );
    advancePin(options.cache, options.repo, snapshot);
    return { ...result, snapshot };
  }
}

function rootMeta(stat: BigIntStats) {
  return {
    mode: Number(stat.mode) & MODE_MASK,
    mtimeNs: stat.mtimeNs,
    uid: Number(stat.uid),
    gid: Number(stat.gid),
  };
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return "";
  }
}

function statSource(source: string): BigIntStats {
  try {
    return lstatSync(source, { bigint: true });
  } catch (error) {
    throw new BlindsyncError(
      "usage",
      `Cannot back up "${source}": ${describeError(error)}`,
      { cause: error },
    );
  }
}

/**
 * Backs up the sources into a new snapshot. The cache must be open for this repository.
 *
 * Holds a shared repository lock for the whole run: a prune (exclusive) cannot start while a
 * backup may still reference blobs it would delete, and the lease is confirmed once more right
 * before the snapshot is written. A prune that ran since this cache last looked (a new
 * generation) makes the cache forget which blobs exist.
 */
export async function backup(options: BackupOptions): Promise<BackupResult> {
  const { store } = options.repo;
  return withLock(
    store,
    {
      exclusive: false,
      owner: `backup, pid ${process.pid}`,
      waitMs: options.lockWaitMs ?? 0,
      onWait: (holders) => {
        options.sink.warn(
          `Waiting for the repository lock: ${describeHolders(holders)}`,
        );
      },
    },
    async (lock) => {
      options.cache.syncGeneration(await store.generation());
      if (options.dryRun !== true) options.cache.beginRun();
      const pool =
        options.dryRun === true ? undefined : SealPool.start(options.repo);
      try {
        const archiver = new Archiver(options, pool);
        archiver.commitGate = async () => {
          await options.beforeCommit?.();
          await lock.confirm();
        };
        const result = await archiver.run();
        if (options.dryRun !== true) options.cache.finishRun();
        return result;
      } catch (error) {
        options.cache.abortRun();
        throw error;
      } finally {
        await pool?.close();
      }
    },
  );
}
