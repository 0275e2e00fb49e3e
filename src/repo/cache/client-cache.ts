/**
 * The client cache: one SQLite file per repository location under the cache directory. It
 * remembers files by (inode, size, mtime, ctime) so unchanged files are never read again
 * (files-cache.ts), directories by digests of their listings and subtrees so unchanged
 * directories are not even looked through (dir-cache.ts), blob ids known to exist so a re-run
 * asks the store nothing about them (known-blobs.ts), and hints for the next connection
 * (hints.ts). This class is the one face of those parts, sharing one database and one run
 * (run.ts); the file and its tables are in schema.ts.
 *
 * The cache is a hint for speed: losing it costs time, never correctness. The pin, which lets
 * a client notice a rollback or a swapped repository, lives in a file of its own (pin.ts).
 *
 * A backup holds this database's write transaction for its whole run (WAL mode, so readers
 * never wait for it). Every other command beside it only reads, or writes hints that are
 * skipped rather than waited for (hints.ts).
 */
import type Database from "better-sqlite3";
import type { BlobId } from "../../store/index.js";
import { DirCache, type DirRecord } from "./dir-cache.js";
import {
  FilesCache,
  type CachedContent,
  type FileIdentity,
  type FileRecord,
} from "./files-cache.js";
import { HintWriter } from "./hints.js";
import { KnownBlobs } from "./known-blobs.js";
import { readPin, replacePin, type Pin } from "./pin.js";
import { CacheRun } from "./run.js";
import { openCacheDatabase } from "./schema.js";

// Callers import these from here, as before the parts had files of their own.
export { readPin, type Pin } from "./pin.js";
export { defaultCacheRoot } from "./schema.js";
export { readConnectionHints, type ConnectionHints } from "./hints.js";
export type { FileIdentity, CachedContent, FileRecord } from "./files-cache.js";
export type { DirRecord } from "./dir-cache.js";

export class ClientCache {
  private readonly db: Database.Database;
  readonly cacheRoot: string;
  readonly locationKey: string;
  private readonly run: CacheRun;
  private readonly files: FilesCache;
  private readonly dirs: DirCache;
  private readonly blobs: KnownBlobs;
  private readonly hints: HintWriter;

  private constructor(
    db: Database.Database,
    cacheRoot: string,
    locationKey: string,
  ) {
    this.db = db;
    this.cacheRoot = cacheRoot;
    this.locationKey = locationKey;
    this.run = new CacheRun(db);
    this.files = new FilesCache(db, this.run);
    this.dirs = new DirCache(db, this.run);
    this.blobs = new KnownBlobs(db);
    this.hints = new HintWriter(db);
  }

  /** Opens (creating if needed) the cache of one repository location. */
  static open(cacheRoot: string, locationKey: string): ClientCache {
    const db = openCacheDatabase(cacheRoot, locationKey);
    return new ClientCache(db, cacheRoot, locationKey);
  }

  /** The location's pin (pin.ts), read afresh: a concurrent command may have moved it. */
  get pin(): Pin | undefined {
    return readPin(this.cacheRoot, this.locationKey);
  }

  /** Forgets the pin and pins `pin` instead: only for `init`, which made a new repository here. */
  resetPin(pin: Pin): void {
    replacePin(this.cacheRoot, this.locationKey, pin);
  }

  /** Remembers the key slot that opened the repository; written only when it changed. */
  saveKeySlotHint(slot: Uint8Array): void {
    this.hints.saveKeySlot(slot);
  }

  /** Remembers what the server said about its CPU; written only when it changed. */
  saveServerAesHint(cpuAes: boolean): void {
    this.hints.saveServerAes(cpuAes);
  }

  /** Starts a backup run, holding the write transaction until it finishes (run.ts). */
  beginRun(): void {
    this.run.begin();
  }

  /**
   * Commits the run. A sweeping run forgets every file it did not see; any other run asks
   * the next one to sweep when too many rows are stale.
   */
  finishRun(): void {
    this.run.finish();
  }

  /** Gives up a run without forgetting anything. */
  abortRun(): void {
    this.run.abort();
  }

  /** Commits what the run recorded so far (keeps memory and WAL bounded on long runs). */
  checkpointRun(): void {
    this.run.checkpoint();
  }

  /** Whether a file was recorded at this path by an earlier run (whatever its identity now). */
  hasFile(path: Uint8Array): boolean {
    return this.files.has(path);
  }

  /**
   * The chunk ids an earlier run recorded for the file at `path`, whatever its identity now;
   * undefined when there is none. Marks and counts nothing.
   */
  recordedContent(path: Uint8Array): BlobId[] | undefined {
    return this.files.recordedContent(path);
  }

  /** The recorded content of a file whose identity is unchanged; marks and counts nothing. */
  lookupFile(
    path: Uint8Array,
    identity: FileIdentity,
  ): CachedContent | undefined {
    return this.files.lookup(path, identity);
  }

  /**
   * The recorded content of a file whose identity is unchanged, counted as seen in this run
   * (and, in a sweeping run, marked so that finishRun() keeps it).
   */
  reuseFile(
    path: Uint8Array,
    identity: FileIdentity,
  ): CachedContent | undefined {
    return this.files.reuse(path, identity);
  }

  /** Records a file read in this run, once every chunk it names is durable in the store. */
  recordFile(
    path: Uint8Array,
    identity: FileIdentity,
    cached: CachedContent,
  ): void {
    this.files.record(path, identity, cached);
  }

  /** Records many files as recordFile() does each, in fewer statements. */
  recordFiles(records: readonly FileRecord[]): void {
    this.files.recordMany(records);
  }

  /**
   * What an earlier run recorded for the directory at `path`; undefined when there is none,
   * and always in a sweeping run.
   */
  lookupDir(path: Uint8Array): DirRecord | undefined {
    return this.dirs.lookup(path);
  }

  /** Counts a reused directory's files as seen, as reuseFile() would have one by one. */
  reusedDir(record: DirRecord): void {
    this.dirs.reused(record);
  }

  /** Records a directory whose tree, and every blob below it, is durable in the store. */
  recordDir(path: Uint8Array, record: DirRecord): void {
    this.dirs.record(path, record);
  }

  hasBlob(id: BlobId): boolean {
    return this.blobs.has(id);
  }

  addBlobs(ids: readonly BlobId[]): void {
    this.blobs.add(ids);
  }

  /**
   * Brings the cache in line with the store's prune generation: when a prune ran since the
   * cache last looked, every remembered blob (and file, whose chunks may be gone) is
   * forgotten before the pin's generation moves on (known-blobs.ts).
   */
  syncGeneration(generation: number): void {
    this.blobs.syncGeneration(this.cacheRoot, this.locationKey, generation);
  }

  /**
   * Forgets every blob, file and directory believed to exist (after a prune, or another
   * repository).
   */
  invalidateBlobs(): void {
    this.blobs.forgetAll();
  }

  close(): void {
    this.abortRun();
    this.db.close();
  }
}
