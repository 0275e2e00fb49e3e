/**
 * The SQLite store's records behind the tables of store/rules: each function only reads and
 * writes rows, the rules decide what may be written. Every call runs inside a transaction that
 * SqliteStore opens (IMMEDIATE for writes), so a rule sees one consistent database.
 */
import type Database from "better-sqlite3";
import type { KeySlot, LockHolder } from "../store.js";
import type { Cell, KeySlotTable, LockTable } from "../rules/index.js";
import { GENERATION_KEY, REPOSITORY_CONFIG_KEY } from "./schema.js";

/** A plain Uint8Array view of a Buffer from better-sqlite3, which is always a fresh copy. */
export function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The repository's config record, a row of the `config` table. A value that is not a blob is
 * damage (only create() writes this row), reported through `damaged` rather than read as absent.
 */
export function configRecord(
  db: Database.Database,
  damaged: (why: string) => Error,
): Cell<Uint8Array> {
  return {
    read: () => {
      const value: unknown = db
        .prepare("SELECT value FROM config WHERE key = ?")
        .pluck()
        .get(REPOSITORY_CONFIG_KEY);
      if (value === undefined) return undefined;
      if (!(value instanceof Uint8Array))
        throw damaged("the config record is not a blob");
      return plain(value);
    },
    write: (value) => {
      db.prepare("INSERT INTO config (key, value) VALUES (?, ?)").run(
        REPOSITORY_CONFIG_KEY,
        value,
      );
    },
  };
}

/** The prune generation, a row of the `config` table (absent means 0, as the rules read it). */
export function generationCell(db: Database.Database): Cell<number> {
  return {
    read: () => {
      const value: unknown = db
        .prepare("SELECT value FROM config WHERE key = ?")
        .pluck()
        .get(GENERATION_KEY);
      return typeof value === "number" ? value : undefined;
    },
    write: (value) => {
      db.prepare(
        "INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ).run(GENERATION_KEY, value);
    },
  };
}

export function keySlotTable(db: Database.Database): KeySlotTable {
  return {
    all: () =>
      (
        db.prepare("SELECT name, bytes FROM key_slots ORDER BY name").all() as {
          name: string;
          bytes: Buffer;
        }[]
      ).map((row): KeySlot => ({
        name: row.name,
        bytes: plain(row.bytes),
      })),
    has: (name) =>
      db.prepare("SELECT 1 FROM key_slots WHERE name = ?").get(name) !==
      undefined,
    count: () =>
      db.prepare("SELECT count(*) FROM key_slots").pluck().get() as number,
    insert: (slot) => {
      db.prepare("INSERT INTO key_slots (name, bytes) VALUES (?, ?)").run(
        slot.name,
        slot.bytes,
      );
    },
    remove: (name) => {
      db.prepare("DELETE FROM key_slots WHERE name = ?").run(name);
    },
  };
}

/**
 * The lock records. Locks live in their own table, created on first use so that repositories
 * made before it existed need no migration. It is not append-only protected: locks are not
 * data (the rules say what an append-only connection may do with them).
 */
export function lockTable(db: Database.Database): LockTable {
  db.exec(
    `CREATE TABLE IF NOT EXISTS locks (
       id TEXT PRIMARY KEY NOT NULL,
       exclusive INTEGER NOT NULL,
       owner TEXT NOT NULL,
       expires_at INTEGER NOT NULL
     ) STRICT`,
  );
  return {
    live: (now, exclusiveOnly) =>
      (
        db
          .prepare(
            `SELECT exclusive, owner, expires_at FROM locks WHERE expires_at > ?${exclusiveOnly ? " AND exclusive = 1" : ""} ORDER BY rowid`,
          )
          .all(now) as {
          exclusive: number;
          owner: string;
          expires_at: number;
        }[]
      ).map((row): LockHolder => ({
        exclusive: row.exclusive === 1,
        owner: row.owner,
        expiresAt: row.expires_at,
      })),
    insert: (record) => {
      db.prepare(
        "INSERT INTO locks (id, exclusive, owner, expires_at) VALUES (?, ?, ?, ?)",
      ).run(
        record.id,
        record.exclusive ? 1 : 0,
        record.owner,
        record.expiresAt,
      );
    },
    extend: (id, expiresAt, now) =>
      db
        .prepare(
          "UPDATE locks SET expires_at = ? WHERE id = ? AND expires_at > ?",
        )
        .run(expiresAt, id, now).changes > 0,
    remove: (id) => {
      db.prepare("DELETE FROM locks WHERE id = ?").run(id);
    },
    removeExpired: (now) =>
      (Number.isFinite(now)
        ? db.prepare("DELETE FROM locks WHERE expires_at <= ?").run(now)
        : db.prepare("DELETE FROM locks").run()
      ).changes,
  };
}
