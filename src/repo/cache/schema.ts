/**
 * The client cache's SQLite file: where it lives, its tables, and how it is opened, read-write
 * by a command that records, read-only (creating nothing) by one that only looks at hints.
 * The tables belong to the modules beside this one: files and file_count (files-cache.ts),
 * dirs (dir-cache.ts), blobs (known-blobs.ts), last_run and sweep_next_run (run.ts), the two
 * hint tables (hints.ts).
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { locationDir, prepareDatabaseFile } from "./location.js";

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

/** How long a command waits for the cache's write lock, which a backup holds for its run. */
export const BUSY_TIMEOUT_MS = 5000;

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

/** Opens (creating if needed) the cache database of one repository location. */
export function openCacheDatabase(
  cacheRoot: string,
  locationKey: string,
): Database.Database {
  const file = prepareDatabaseFile(cacheRoot, locationKey, CACHE_FILE);
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  // The pin is elsewhere now, but syncGeneration() forgets the blobs here before the pin's
  // generation moves on: that forgetting must survive a power loss, or the cache would
  // vouch for blobs a prune deleted.
  db.pragma("synchronous = FULL");
  // Statement journals in memory: every files-cache upsert (its count trigger) and multi-row
  // insert inside a backup's long transaction wrote one, a temporary file in /var/tmp; with
  // many small files that was about one page write per file (docs/performance.md). Each lives
  // for one statement, a few pages.
  db.pragma("temp_store = MEMORY");
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.exec(SCHEMA);
  countFilesOnce(db);
  return db;
}

/** Runs `read` on a location's cache opened read-only; undefined when there is none. */
export function readCacheDatabase<T>(
  cacheRoot: string,
  locationKey: string,
  read: (db: Database.Database) => T | undefined,
): T | undefined {
  const file = cacheFile(cacheRoot, locationKey);
  if (!existsSync(file)) return undefined;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
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
