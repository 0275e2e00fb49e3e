/**
 * The client cache: one SQLite file per repository location under the cache directory. It
 * remembers files by (inode, size, mtime, ctime) so unchanged files are never read again,
 * directories by digests of their listings and subtrees so unchanged directories are not even
 * looked through, and blob ids known to exist so a re-run asks the store nothing about them.
 *
 * The cache is a hint for speed: losing it costs time, never correctness. The pin, which lets
 * a client notice a rollback or a swapped repository, lives in a file of its own (pin.ts).
 *
 * A backup holds this database's write transaction for its whole run (WAL mode, so readers
 * never wait for it). Every other command beside it only reads, or writes hints that are
 * skipped rather than waited for (see writeHint).
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { BlobId } from "../../store/index.js";
import { locationDir, prepareDatabaseFile } from "./location.js";
import { advancePin, readPin, replacePin, type Pin } from "./pin.js";

// The pin's readers import it from here, as before it had a file of its own.
export { readPin, type Pin } from "./pin.js";

export interface FileIdentity {
  readonly ino: bigint;
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export interface CachedContent {
  readonly content: BlobId[];
  readonly sha256: Uint8Array;
}

/**
 * A directory as a backup run saw it and the tree blob it made of it (the idea of git's
 * cache-tree). The tree depends only on what the two digests cover, so a later run whose
 * digests match reuses the tree without looking at a single file of the directory.
 */
export interface DirRecord {
  /** SHA-256 of the name and whole lstat (inode, size, times, mode, owner, links) of each kept child. */
  readonly listing: Uint8Array;
  /** SHA-256 of its subdirectories' names and tree ids, in name order. */
  readonly subtrees: Uint8Array;
  readonly tree: BlobId;
  /** Its own regular files (not those of subdirectories): how many, and their bytes. */
  readonly files: number;
  readonly bytes: number;
}

/** The default cache root: $BLINDSYNC_CACHE_DIR, else $XDG_CACHE_HOME/blindsync, else ~/.cache/blindsync. */
export function defaultCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BLINDSYNC_CACHE_DIR) return env.BLINDSYNC_CACHE_DIR;
  const xdg = env.XDG_CACHE_HOME ?? join(homedir(), ".cache");
  return join(xdg, "blindsync");
}

const CACHE_FILE = "cache.sqlite";

function cacheFile(cacheRoot: string, locationKey: string): string {
  return join(locationDir(cacheRoot, locationKey), CACHE_FILE);
}

// Older caches also hold a `pin` table: pin.ts reads it once, as a fallback, and nothing
// writes it any more.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS files (
  path BLOB PRIMARY KEY,
  ino INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL,
  sha256 BLOB NOT NULL,
  content BLOB NOT NULL,
  run INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS file_count (
  only INTEGER PRIMARY KEY CHECK (only = 1),
  rows INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS file_count_insert AFTER INSERT ON files
  BEGIN UPDATE file_count SET rows = rows + 1; END;
CREATE TRIGGER IF NOT EXISTS file_count_delete AFTER DELETE ON files
  BEGIN UPDATE file_count SET rows = rows - 1; END;
CREATE TABLE IF NOT EXISTS dirs (
  path BLOB PRIMARY KEY,
  listing BLOB NOT NULL,
  subtrees BLOB NOT NULL,
  tree BLOB NOT NULL,
  files INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  run INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (id BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS last_run (
  only INTEGER PRIMARY KEY CHECK (only = 1),
  run INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_next_run (
  only INTEGER PRIMARY KEY CHECK (only = 1)
);
CREATE TABLE IF NOT EXISTS key_slot_hint (
  only INTEGER PRIMARY KEY CHECK (only = 1),
  slot BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS server_hint (
  only INTEGER PRIMARY KEY CHECK (only = 1),
  cpu_aes INTEGER NOT NULL
);
`;

/** Runs `read` on a location's cache opened read-only; undefined when there is none. */
function readCache<T>(
  cacheRoot: string,
  locationKey: string,
  read: (db: Database.Database) => T | undefined,
): T | undefined {
  const file = cacheFile(cacheRoot, locationKey);
  if (!existsSync(file)) return undefined;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      db.pragma("busy_timeout = 5000");
      return read(db);
    } finally {
      db.close();
    }
  } catch {
    // An unreadable cache is treated as absent: the cache is a hint, and a missing pin only
    // means this client has not seen the repository before.
    return undefined;
  }
}

/** The one value of a single-row hint table; undefined when a cache from before it has none. */
function readHint(
  db: Database.Database,
  table: "key_slot_hint" | "server_hint",
  column: "slot" | "cpu_aes",
): unknown {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
    .get(table);
  if (exists === undefined) return undefined;
  return db
    .prepare(`SELECT ${column} FROM ${table} WHERE only = 1`)
    .pluck()
    .get();
}

/** What this client remembers of a location from its last connection: public data only. */
export interface ConnectionHints {
  /** The key slot that last opened it (repo/early-kdf.ts); the server stores the same bytes. */
  readonly keySlot: Uint8Array | undefined;
  /**
   * Whether its server said its CPU has AES instructions (store/remote/ssh-ciphers.ts);
   * undefined when it was never asked.
   */
  readonly serverHasAes: boolean | undefined;
}

/**
 * The hints for a location, read before connecting, in one read-only open that creates
 * nothing; both undefined when there is no cache or it predates them.
 */
export function readConnectionHints(
  cacheRoot: string,
  locationKey: string,
): ConnectionHints {
  const hints = readCache(cacheRoot, locationKey, (db) => {
    const slot = readHint(db, "key_slot_hint", "slot");
    const cpuAes = readHint(db, "server_hint", "cpu_aes");
    return {
      keySlot: slot instanceof Buffer ? new Uint8Array(slot) : undefined,
      serverHasAes: typeof cpuAes === "number" ? cpuAes === 1 : undefined,
    };
  });
  return hints ?? { keySlot: undefined, serverHasAes: undefined };
}

function cachedContent(row: {
  sha256: Buffer;
  content: Buffer;
}): CachedContent {
  const content: BlobId[] = [];
  for (let offset = 0; offset < row.content.length; offset += 32) {
    content.push(new Uint8Array(row.content.subarray(offset, offset + 32)));
  }
  return { content, sha256: new Uint8Array(row.sha256) };
}

/**
 * Starts the count that the file_count triggers keep, in a cache from before them: counting
 * the table at the end of every run read all of it, 60 ms for 40,000 files, when a run that
 * reuses whole directories otherwise reads none of it.
 */
function countFilesOnce(db: Database.Database): void {
  // Read first: a write transaction here would wait for (and, after busy_timeout, fail on) a
  // backup of the same location holding the cache's write lock for its whole run.
  const counted = db.prepare("SELECT 1 FROM file_count");
  if (counted.get() !== undefined) return;
  db.transaction(() => {
    if (counted.get() !== undefined) return;
    db.prepare(
      "INSERT INTO file_count (only, rows) SELECT 1, count(*) FROM files",
    ).run();
  }).immediate();
}

/**
 * Rows of files no longer seen (deleted or newly excluded) that a run leaves in place before
 * it asks the next run to sweep: at least this many, and at least 1/STALE_SHARE of the table.
 */
const STALE_ROWS_KEPT = 256;
const STALE_SHARE = 16;

/**
 * How long a hint write waits for the cache's write lock. A backup of the same location holds
 * it for its whole run; a hint is worth less than a command that waits (or fails) for it.
 */
const HINT_BUSY_TIMEOUT_MS = 50;
const BUSY_TIMEOUT_MS = 5000;

export class ClientCache {
  private readonly db: Database.Database;
  readonly cacheRoot: string;
  readonly locationKey: string;
  private runId = 0;
  /** This run marks every row it reuses, and forgets the rest at its end (see beginRun). */
  private sweeping = false;
  /** Rows this run found unchanged or recorded: the others are stale. */
  private rowsSeen = 0;
  // Prepared once: a re-run looks up every file, and preparing per call costs more than the query.
  private readonly selectFilePath: Database.Statement;
  private readonly selectUnchangedFile: Database.Statement;
  private readonly touchUnchangedFile: Database.Statement;
  private readonly upsertFile: Database.Statement;
  private readonly selectBlob: Database.Statement;
  private readonly insertBlob: Database.Statement;
  private readonly selectDir: Database.Statement;
  private readonly upsertDir: Database.Statement;

  private constructor(
    db: Database.Database,
    cacheRoot: string,
    locationKey: string,
  ) {
    this.db = db;
    this.cacheRoot = cacheRoot;
    this.locationKey = locationKey;
    this.selectFilePath = db
      .prepare("SELECT 1 FROM files WHERE path = ?")
      .pluck();
    this.selectUnchangedFile = db.prepare(
      `SELECT sha256, content FROM files
       WHERE path = ? AND ino = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ?`,
    );
    this.touchUnchangedFile = db.prepare(
      `UPDATE files SET run = ?
       WHERE path = ? AND ino = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ?
       RETURNING sha256, content`,
    );
    this.upsertFile = db.prepare(
      `INSERT INTO files (path, ino, size, mtime_ns, ctime_ns, sha256, content, run)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET ino = excluded.ino, size = excluded.size,
         mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, sha256 = excluded.sha256,
         content = excluded.content, run = excluded.run`,
    );
    this.selectBlob = db.prepare("SELECT 1 FROM blobs WHERE id = ?").pluck();
    this.insertBlob = db.prepare("INSERT OR IGNORE INTO blobs (id) VALUES (?)");
    this.selectDir = db.prepare(
      "SELECT listing, subtrees, tree, files, bytes FROM dirs WHERE path = ?",
    );
    this.upsertDir = db.prepare(
      `INSERT INTO dirs (path, listing, subtrees, tree, files, bytes, run)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET listing = excluded.listing,
         subtrees = excluded.subtrees, tree = excluded.tree, files = excluded.files,
         bytes = excluded.bytes, run = excluded.run`,
    );
  }

  /** Opens (creating if needed) the cache of one repository location. */
  static open(cacheRoot: string, locationKey: string): ClientCache {
    const file = prepareDatabaseFile(cacheRoot, locationKey, CACHE_FILE);
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    // The pin is elsewhere now, but syncGeneration() forgets the blobs here before the pin's
    // generation moves on: that forgetting must survive a power loss, or the cache would
    // vouch for blobs a prune deleted.
    db.pragma("synchronous = FULL");
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec(SCHEMA);
    countFilesOnce(db);
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

  /**
   * Runs a hint's write unless a backup holds the write lock: then the hint is skipped (the
   * next command writes it). Waiting up to busy_timeout, then failing, is what made every
   * command beside a backup exit 1.
   */
  private writeHint(write: () => void): void {
    if (this.db.inTransaction) {
      write();
      return;
    }
    this.db.pragma(`busy_timeout = ${HINT_BUSY_TIMEOUT_MS}`);
    try {
      write();
    } catch (error) {
      if ((error as { code?: unknown }).code !== "SQLITE_BUSY") throw error;
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  /** Remembers the key slot that opened the repository; written only when it changed. */
  saveKeySlotHint(slot: Uint8Array): void {
    const known = this.db
      .prepare("SELECT slot FROM key_slot_hint WHERE only = 1")
      .pluck()
      .get() as Buffer | undefined;
    if (known !== undefined && Buffer.from(slot).equals(known)) return;
    this.writeHint(() => {
      this.db
        .prepare(
          `INSERT INTO key_slot_hint (only, slot) VALUES (1, ?)
           ON CONFLICT (only) DO UPDATE SET slot = excluded.slot`,
        )
        .run(slot);
    });
  }

  /** Remembers what the server said about its CPU; written only when it changed. */
  saveServerAesHint(cpuAes: boolean): void {
    const value = cpuAes ? 1 : 0;
    const known = this.db
      .prepare("SELECT cpu_aes FROM server_hint WHERE only = 1")
      .pluck()
      .get();
    if (known === value) return;
    this.writeHint(() => {
      this.db
        .prepare(
          `INSERT INTO server_hint (only, cpu_aes) VALUES (1, ?)
           ON CONFLICT (only) DO UPDATE SET cpu_aes = excluded.cpu_aes`,
        )
        .run(value);
    });
  }

  /**
   * Starts a backup run. Marking every unchanged file's row as seen would rewrite the whole
   * table on every re-run (an UPDATE per file, and every page in the WAL); so a run only reads
   * them, counts what it saw, and finishRun() compares that with the table. When the rows of
   * files no longer there pass a bound, the next run sweeps: it marks what it sees and forgets
   * the rest. Stale rows cost only space: a row answers only for the identity it recorded.
   */
  beginRun(): void {
    // The last run's number is kept in its own row: max(run) over the files table reads
    // every page of it (50 ms for 40,000 files). A cache from before that row falls back once
    // and sweeps, since it cannot know what its runs left behind.
    const last = this.db.prepare("SELECT run FROM last_run").pluck().get() as
      number | undefined;
    this.runId =
      (last ??
        (this.db
          .prepare("SELECT coalesce(max(run), 0) FROM files")
          .pluck()
          .get() as number)) + 1;
    this.sweeping =
      last === undefined ||
      this.db.prepare("SELECT 1 FROM sweep_next_run").get() !== undefined;
    this.rowsSeen = 0;
    this.db.exec("BEGIN");
    this.db
      .prepare(
        `INSERT INTO last_run (only, run) VALUES (1, ?)
         ON CONFLICT (only) DO UPDATE SET run = excluded.run`,
      )
      .run(this.runId);
  }

  /**
   * Commits the run. A sweeping run forgets every file it did not see; any other run asks
   * the next one to sweep when too many rows are stale.
   */
  finishRun(): void {
    if (this.sweeping) {
      this.db.prepare("DELETE FROM files WHERE run < ?").run(this.runId);
      this.db.prepare("DELETE FROM dirs WHERE run < ?").run(this.runId);
      this.db.exec("DELETE FROM sweep_next_run");
    } else {
      const rows = this.db
        .prepare("SELECT rows FROM file_count")
        .pluck()
        .get() as number;
      const stale = rows - this.rowsSeen;
      if (stale > Math.max(STALE_ROWS_KEPT, rows / STALE_SHARE))
        this.db.exec("INSERT OR IGNORE INTO sweep_next_run (only) VALUES (1)");
    }
    this.db.exec("COMMIT");
  }

  /** Gives up a run without forgetting anything. */
  abortRun(): void {
    if (this.db.inTransaction) this.db.exec("ROLLBACK");
  }

  /** Commits what the run recorded so far (keeps memory and WAL bounded on long runs). */
  checkpointRun(): void {
    if (!this.db.inTransaction) return;
    this.db.exec("COMMIT");
    this.db.exec("BEGIN");
  }

  /** Whether a file was recorded at this path by an earlier run (whatever its identity now). */
  hasFile(path: Uint8Array): boolean {
    return this.selectFilePath.get(path) !== undefined;
  }

  /** The recorded content of a file whose identity is unchanged; marks and counts nothing. */
  lookupFile(
    path: Uint8Array,
    identity: FileIdentity,
  ): CachedContent | undefined {
    const row = this.selectUnchangedFile.get(
      path,
      BigInt.asIntN(64, identity.ino),
      identity.size,
      identity.mtimeNs,
      identity.ctimeNs,
    ) as { sha256: Buffer; content: Buffer } | undefined;
    return row === undefined ? undefined : cachedContent(row);
  }

  /**
   * The recorded content of a file whose identity is unchanged, counted as seen in this run
   * (and, in a sweeping run, marked so that finishRun() keeps it). A re-run asks this for
   * every file: one statement each.
   */
  reuseFile(
    path: Uint8Array,
    identity: FileIdentity,
  ): CachedContent | undefined {
    let found: CachedContent | undefined;
    if (this.sweeping) {
      const row = this.touchUnchangedFile.get(
        this.runId,
        path,
        BigInt.asIntN(64, identity.ino),
        identity.size,
        identity.mtimeNs,
        identity.ctimeNs,
      ) as { sha256: Buffer; content: Buffer } | undefined;
      found = row === undefined ? undefined : cachedContent(row);
    } else found = this.lookupFile(path, identity);
    if (found !== undefined) this.rowsSeen++;
    return found;
  }

  /** Records a file read in this run, once every chunk it names is durable in the store. */
  recordFile(
    path: Uint8Array,
    identity: FileIdentity,
    cached: CachedContent,
  ): void {
    this.upsertFile.run(
      path,
      BigInt.asIntN(64, identity.ino),
      identity.size,
      identity.mtimeNs,
      identity.ctimeNs,
      cached.sha256,
      Buffer.concat(cached.content),
      this.runId,
    );
    this.rowsSeen++;
  }

  /**
   * What an earlier run recorded for the directory at `path`, for the archiver to compare;
   * undefined when there is none, and always in a sweeping run, which must see every file
   * (and every directory) to know which rows to keep.
   */
  lookupDir(path: Uint8Array): DirRecord | undefined {
    if (this.sweeping) return undefined;
    const row = this.selectDir.get(path) as
      | {
          listing: Buffer;
          subtrees: Buffer;
          tree: Buffer;
          files: number;
          bytes: number;
        }
      | undefined;
    if (row === undefined) return undefined;
    return {
      listing: new Uint8Array(row.listing),
      subtrees: new Uint8Array(row.subtrees),
      tree: new Uint8Array(row.tree),
      files: row.files,
      bytes: row.bytes,
    };
  }

  /** Counts a reused directory's files as seen, as reuseFile() would have one by one. */
  reusedDir(record: DirRecord): void {
    this.rowsSeen += record.files;
  }

  /** Records a directory whose tree, and every blob below it, is durable in the store. */
  recordDir(path: Uint8Array, record: DirRecord): void {
    this.upsertDir.run(
      path,
      record.listing,
      record.subtrees,
      record.tree,
      record.files,
      record.bytes,
      this.runId,
    );
  }

  hasBlob(id: BlobId): boolean {
    return this.selectBlob.get(id) !== undefined;
  }

  addBlobs(ids: readonly BlobId[]): void {
    for (const id of ids) this.insertBlob.run(id);
  }

  /**
   * Brings the cache in line with the store's prune generation: when a prune ran since the
   * cache last looked, every remembered blob (and file, whose chunks may be gone) is forgotten.
   */
  syncGeneration(generation: number): void {
    const pin = this.pin;
    if (pin === undefined || pin.generation === generation) return;
    // In this order: a crash in between only makes the next run forget again. The other
    // order could leave a pin that says "seen the prune" over blobs the prune deleted.
    this.invalidateBlobs();
    advancePin(this.cacheRoot, this.locationKey, { ...pin, generation });
  }

  /**
   * Forgets every blob, file and directory believed to exist (after a prune, or another
   * repository).
   */
  invalidateBlobs(): void {
    this.db.exec("DELETE FROM blobs; DELETE FROM files; DELETE FROM dirs;");
  }

  close(): void {
    this.abortRun();
    this.db.close();
  }
}
