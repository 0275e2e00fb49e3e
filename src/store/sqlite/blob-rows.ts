/**
 * The SQLite store's blob records: the statements on `blobs` (id, kind, length, SHA-256 of the
 * stored bytes) and `blob_data` (the bytes), and the BlobTables of store/rules built on them.
 * Like tables.ts, this only reads and writes rows; the rules decide, and every call runs
 * inside a transaction that SqliteStore opens.
 */
import { createHash } from "node:crypto";
import type Database from "better-sqlite3";
import type { BlobId, BlobToPut } from "../store.js";
import type { BlobTable } from "../rules/index.js";
import { kindCode } from "./schema.js";

/** Rows per query of `list` and `scrub`: bounded memory, and no statement held open across awaits. */
export const PAGE_ROWS = 1000;

export interface BlobRow {
  readonly id: Buffer;
  readonly kind: number;
  readonly length: number;
}

export interface ScrubRow {
  readonly id: Buffer;
  readonly sha256: Buffer;
  readonly data_id: number;
}

export class BlobRows {
  readonly #db: Database.Database;
  /**
   * Prepared statements of the hot paths (get, missing, put), prepared once: a restore reads
   * thousands of blobs, and preparing per call cost more than the lookup. Each SQL text is
   * always used in one mode (pluck or not), so sharing the statement is safe.
   */
  readonly #statements = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.#db = db;
  }

  /** The stored bytes of blob `id`, or undefined. */
  data(id: BlobId): Buffer | undefined {
    return this.#cached(
      "SELECT d.data FROM blobs b JOIN blob_data d ON d.rowid = b.data_id WHERE b.id = ?",
    )
      .pluck()
      .get(id) as Buffer | undefined;
  }

  /** A table that only looks blobs up (missing). */
  lookup(): BlobTable {
    const has = this.#cached("SELECT 1 FROM blobs WHERE id = ?").pluck();
    return { ...unusedBlobTable, has: (id) => has.get(id) !== undefined };
  }

  /**
   * A table that looks up and inserts blobs (put); `hashes[i]` is the SHA-256 of the i-th
   * blob's bytes, computed before the write transaction so that it holds the lock only for
   * the writes.
   */
  writer(hashes: readonly Buffer[]): BlobTable {
    const insertData = this.#cached("INSERT INTO blob_data (data) VALUES (?)");
    const insertBlob = this.#cached(
      "INSERT INTO blobs (id, kind, length, sha256, data_id) VALUES (?, ?, ?, ?, ?)",
    );
    return {
      ...this.lookup(),
      insert: (blob, index) => {
        const { lastInsertRowid } = insertData.run(blob.bytes);
        insertBlob.run(
          blob.id,
          kindCode(blob.kind),
          blob.bytes.length,
          hashes[index],
          lastInsertRowid,
        );
      },
    };
  }

  /** A table that only removes blobs, record and bytes (delete). */
  remover(): BlobTable {
    const deleteBlob = this.#db
      .prepare("DELETE FROM blobs WHERE id = ? RETURNING data_id")
      .pluck();
    const deleteData = this.#db.prepare(
      "DELETE FROM blob_data WHERE rowid = ?",
    );
    return {
      ...unusedBlobTable,
      remove: (id) => {
        const dataId = deleteBlob.get(id);
        if (dataId !== undefined) deleteData.run(dataId);
      },
    };
  }

  /**
   * The next PAGE_ROWS blob records after id `after`, of kind `code` if given. Keyset paging
   * (after the last id seen) instead of one open cursor: no statement stays open while the
   * consumer awaits, so other calls on this connection keep working.
   */
  page(after: Uint8Array, code: number | undefined): BlobRow[] {
    const statement = this.#db.prepare(
      "SELECT id, kind, length FROM blobs WHERE id > ?" +
        (code === undefined ? "" : " AND kind = ?") +
        ` ORDER BY id LIMIT ${PAGE_ROWS}`,
    );
    return (
      code === undefined ? statement.all(after) : statement.all(after, code)
    ) as BlobRow[];
  }

  /** The next PAGE_ROWS records to scrub after id `after`, paged as page() is. */
  scrubPage(after: Uint8Array): ScrubRow[] {
    return this.#db
      .prepare(
        `SELECT id, sha256, data_id FROM blobs WHERE id > ? ORDER BY id LIMIT ${PAGE_ROWS}`,
      )
      .all(after) as ScrubRow[];
  }

  /** Whether the bytes of `row` are there and still hash to the SHA-256 recorded at put. */
  intact(row: ScrubRow): boolean {
    const data = this.#db
      .prepare("SELECT data FROM blob_data WHERE rowid = ?")
      .pluck()
      .get(row.data_id) as Buffer | undefined;
    return data !== undefined && sha256(data).equals(row.sha256);
  }

  #cached(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/** The SHA-256 recorded beside each blob, so scrub finds bit rot without any key. */
export function sha256(bytes: Uint8Array): Buffer {
  return createHash("sha256").update(bytes).digest();
}

/** The SHA-256 of each blob's bytes, in order, for writer(). */
export function hashesOf(blobs: readonly BlobToPut[]): Buffer[] {
  return blobs.map((blob) => sha256(blob.bytes));
}

/**
 * The parts of a BlobTable a call does not use: each call builds only what its rule needs from
 * its prepared statements (missing() only reads, delete() only removes).
 */
const unusedBlobTable: BlobTable = {
  has: () => {
    throw new TypeError("This blob table cannot look up blobs");
  },
  insert: () => {
    throw new TypeError("This blob table cannot insert blobs");
  },
  remove: () => {
    throw new TypeError("This blob table cannot remove blobs");
  },
};
