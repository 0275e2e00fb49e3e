/**
 * The pin: what this client has seen of a repository location (repository id, key check
 * value, highest head, prune generation). It is the rollback defence, so this module is the
 * only code that writes it, and it only ever moves forward.
 *
 * Its home is a small SQLite file of its own per location (pin.sqlite beside cache.sqlite):
 * - Not inside the cache database: a backup holds that database's write transaction for its
 *   whole run, so every other command that saved its pin there waited, then failed with
 *   "database is locked".
 * - Not a file replaced by rename: moving forward is read, compare, write, and two processes
 *   doing that at once need a lock between them (both read head 5, a backup saves 7, a slow
 *   `snapshots` then saves the 6 it saw, and the rename of the older one wins). SQLite's
 *   BEGIN IMMEDIATE is that lock, held for microseconds, with atomic and durable commits
 *   (synchronous FULL) thrown in.
 * - A rollback journal, not WAL: a read-only open then creates nothing (no -shm or -wal),
 *   which matters before the passphrase has proved itself; the file sees a few writes per
 *   command, so WAL's concurrency buys nothing.
 *
 * Caches written before this file existed keep their pin in cache.sqlite's `pin` table: it is
 * read as a fallback until the first write here, so upgrading keeps the rollback protection.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { BlindsyncError } from "../../errors.js";
import { bytesEqual } from "../../util/bytes.js";
import { locationDir, prepareDatabaseFile } from "./location.js";

export interface Pin {
  readonly repositoryId: Uint8Array;
  readonly keyCheckValue: Uint8Array;
  /** Highest head sequence number this client has seen (0 before the first snapshot). */
  readonly lastSeq: number;
  readonly lastHeadId: Uint8Array | null;
  /** The store's prune generation when the cache's blob list was last known to be true. */
  readonly generation: number;
}

const PIN_FILE = "pin.sqlite";
/** The cache database, where older versions kept the pin. */
const LEGACY_FILE = "cache.sqlite";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS pin (
  only INTEGER PRIMARY KEY CHECK (only = 1),
  location TEXT NOT NULL,
  repository_id BLOB NOT NULL,
  key_check BLOB NOT NULL,
  last_seq INTEGER NOT NULL,
  last_head BLOB,
  generation INTEGER NOT NULL DEFAULT 0
);`;

/** Writers hold the lock for one small transaction; a reader waiting this long means trouble. */
const BUSY_TIMEOUT_MS = 10_000;

interface PinRow {
  repository_id: Buffer;
  key_check: Buffer;
  last_seq: number;
  last_head: Buffer | null;
  generation: number;
}

/** The pin row of a database that has a `pin` table (this file's, or a legacy cache's). */
function selectPin(db: Database.Database): Pin | undefined {
  const table = db
    .prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pin'",
    )
    .get();
  if (table === undefined) return undefined;
  const row = db.prepare("SELECT * FROM pin WHERE only = 1").get() as
    PinRow | undefined;
  if (row === undefined) return undefined;
  return {
    repositoryId: new Uint8Array(row.repository_id),
    keyCheckValue: new Uint8Array(row.key_check),
    lastSeq: row.last_seq,
    lastHeadId: row.last_head === null ? null : new Uint8Array(row.last_head),
    generation: row.generation,
  };
}

/** Reads the pin of one database file opened read-only; undefined when there is none. */
function readPinFile(file: string): Pin | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return selectPinFrom(file, { readonly: true });
  } catch (error) {
    // A process killed inside a pin write (kill -9, a power cut) leaves a hot journal, which
    // SQLite rolls back only on a connection that may write: a read-only one fails with
    // "attempt to write a readonly database", and would fail the same way for every command
    // from then on. Opening the existing file read-write rolls the journal back to the last
    // committed pin; nothing new is created.
    if (isReadonlyError(error) && existsSync(`${file}-journal`))
      return selectPinFrom(file, { readonly: false });
    throw error;
  }
}

function isReadonlyError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("SQLITE_READONLY");
}

function selectPinFrom(
  file: string,
  mode: { readonly readonly: boolean },
): Pin | undefined {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: mode.readonly, fileMustExist: true });
  } catch {
    // Gone between the check and the open, or not a database: no pin was kept there.
    return undefined;
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    return selectPin(db);
  } finally {
    db.close();
  }
}

/**
 * The pin for a location, read without creating anything (safe before the passphrase is
 * checked); the legacy pin of an older cache when this location has no pin file yet.
 *
 * A pin file that cannot be read is an error, not an absent pin: taking it for absent would
 * switch the rollback defence off.
 */
export function readPin(
  cacheRoot: string,
  locationKey: string,
): Pin | undefined {
  const dir = locationDir(cacheRoot, locationKey);
  const file = join(dir, PIN_FILE);
  let pin: Pin | undefined;
  try {
    pin = readPinFile(file);
  } catch (error) {
    throw new BlindsyncError(
      "failed",
      `Cannot read this client's pin of "${locationKey}" at "${file}": ${(error as Error).message}`,
      {
        cause: error,
        hint: "If the file is damaged, delete it: this client then trusts the repository as it is now, as on first use",
      },
    );
  }
  return pin ?? readLegacyPin(dir);
}

function readLegacyPin(dir: string): Pin | undefined {
  try {
    return readPinFile(join(dir, LEGACY_FILE));
  } catch {
    // The legacy pin is read once, from a cache that is otherwise a hint; a damaged one is
    // as good as none (the old code treated it the same way).
    return undefined;
  }
}

/** Opens (creating if needed) the pin file of a location for one write. */
function openForWrite<T>(
  cacheRoot: string,
  locationKey: string,
  write: (db: Database.Database) => T,
): T {
  const file = prepareDatabaseFile(cacheRoot, locationKey, PIN_FILE);
  const db = new Database(file);
  try {
    db.pragma("journal_mode = DELETE");
    // A pin lost in a crash would let the client forget a head it saw.
    db.pragma("synchronous = FULL");
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec(SCHEMA);
    return db.transaction(() => write(db)).immediate();
  } finally {
    db.close();
  }
}

function storePin(db: Database.Database, locationKey: string, pin: Pin): void {
  db.prepare(
    `INSERT INTO pin (only, location, repository_id, key_check, last_seq, last_head, generation)
     VALUES (1, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (only) DO UPDATE SET location = excluded.location,
       repository_id = excluded.repository_id, key_check = excluded.key_check,
       last_seq = excluded.last_seq, last_head = excluded.last_head,
       generation = excluded.generation`,
  ).run(
    locationKey,
    pin.repositoryId,
    pin.keyCheckValue,
    pin.lastSeq,
    pin.lastHeadId,
    pin.generation,
  );
}

/**
 * The pin after `seen`: the sequence number and the generation only grow. At an equal
 * sequence number (two backups that raced and wrote the same one) the later report wins:
 * both heads existed when they were reported, and the later one is the head the repository
 * showed most recently, the one the next backup will build on.
 */
export function forward(current: Pin, seen: Pin): Pin {
  const head =
    seen.lastSeq > current.lastSeq ||
    (seen.lastSeq === current.lastSeq && seen.lastHeadId !== null)
      ? seen
      : current;
  return {
    repositoryId: current.repositoryId,
    keyCheckValue: current.keyCheckValue,
    lastSeq: head.lastSeq,
    lastHeadId: head.lastHeadId,
    generation: Math.max(current.generation, seen.generation),
  };
}

function samePin(a: Pin, b: Pin): boolean {
  return (
    a.lastSeq === b.lastSeq &&
    a.generation === b.generation &&
    (a.lastHeadId === null
      ? b.lastHeadId === null
      : b.lastHeadId !== null && bytesEqual(a.lastHeadId, b.lastHeadId))
  );
}

/**
 * Moves the pin forward to what this client has just seen or written, in one short
 * transaction that compares with the stored pin first: a slow command never writes an older
 * head back over a newer one that a concurrent backup saved. Returns the pin as stored.
 *
 * Throws (rollback) when the stored pin names another repository or other keys: someone
 * created a new repository at this location (init) while this command ran on the old one.
 */
export function advancePin(
  cacheRoot: string,
  locationKey: string,
  seen: Pin,
): Pin {
  return openForWrite(cacheRoot, locationKey, (db) => {
    const stored = selectPin(db);
    const current =
      stored ?? readLegacyPin(locationDir(cacheRoot, locationKey));
    if (current === undefined) {
      storePin(db, locationKey, seen);
      return seen;
    }
    if (
      !bytesEqual(current.repositoryId, seen.repositoryId) ||
      !bytesEqual(current.keyCheckValue, seen.keyCheckValue)
    ) {
      throw new BlindsyncError(
        "rollback",
        `The repository at "${locationKey}" changed while this command ran: this client now has another repository pinned there`,
        { hint: "Run the command again" },
      );
    }
    const next = forward(current, seen);
    if (stored === undefined || !samePin(stored, next))
      storePin(db, locationKey, next);
    return next;
  });
}

/**
 * Replaces the pin whatever it held: only for `init`, which made a new repository at this
 * location (a repository the user deleted and created again is not a foreign one), and for
 * `accept-rollback`, where the user says the repository was restored or replaced on purpose.
 */
export function replacePin(
  cacheRoot: string,
  locationKey: string,
  pin: Pin,
): void {
  openForWrite(cacheRoot, locationKey, (db) => {
    storePin(db, locationKey, pin);
  });
}
