/**
 * The Store that keeps bytes: a local repository is a directory holding one SQLite database
 * (schema.ts; format, settings and their measurements in docs/storage.md). `blindsync serve`
 * exposes exactly this class over the wire.
 *
 * better-sqlite3 is synchronous; the methods are async only to fit the Store interface, and each
 * runs to completion (one transaction) before the next starts, so no call sees another's partial
 * work.
 */

import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { BlindsyncError, describeError } from "../../errors.js";
import { checkSameDatabaseFile, claimDatabaseFile } from "./db-file.js";
import type {
  BlobId,
  BlobInfo,
  BlobKind,
  BlobToPut,
  KeySlot,
  LockAttempt,
  LockRequest,
  LocksRemoved,
  Store,
} from "../store.js";
import {
  acquireLockIn,
  addKeySlotIn,
  appendOnlyError,
  blobNotFoundError,
  bumpGenerationIn,
  checkBlobs,
  checkId,
  createIn,
  deleteIn,
  generationIn,
  listKeySlotsIn,
  missingIn,
  putIn,
  refreshLockIn,
  refuseIfAppendOnly,
  releaseLockIn,
  removeKeySlotIn,
  removeLocksIn,
  type BlobTable,
  type Cell,
} from "../rules/index.js";
import {
  APPEND_ONLY_MESSAGE,
  APPLICATION_ID,
  CACHE_SIZE_KIB,
  CREATE_SCHEMA,
  DATABASE_FILE,
  PAGE_SIZE,
  SCHEMA_VERSION,
  SCHEMA_VERSION_KEY,
  enforceAppendOnly,
  kindCode,
  kindFromCode,
} from "./schema.js";
import {
  configRecord,
  generationCell,
  keySlotTable,
  lockTable,
  plain,
} from "./tables.js";

export interface SqliteStoreOptions {
  /** Make the directory and the database if missing (`init`); `create()` then writes the repository. */
  readonly create?: boolean;
  /** Refuse deletes and overwrites, in this class and in the database (`serve --append-only`). */
  readonly appendOnly?: boolean;
  /** Open the database read-only (restore, check); every write throws. */
  readonly readonly?: boolean;
}

/** Rows per query of `list` and `scrub`: bounded memory, and no statement held open across awaits. */
const PAGE_ROWS = 1000;

/** How long a writer waits for another process's transaction before giving up with 'locked'. */
const BUSY_TIMEOUT_MS = 10_000;

interface BlobRow {
  readonly id: Buffer;
  readonly kind: number;
  readonly length: number;
}

interface ScrubRow {
  readonly id: Buffer;
  readonly sha256: Buffer;
  readonly data_id: number;
}

export class SqliteStore implements Store {
  readonly appendOnly: boolean;
  readonly #file: string;
  readonly #readonly: boolean;
  readonly #db: Database.Database;
  #closed = false;
  /** A read transaction opened by get() is running (see #runReadBatch). */
  #readBatch = false;

  private constructor(
    file: string,
    db: Database.Database,
    options: SqliteStoreOptions,
  ) {
    this.#file = file;
    this.#db = db;
    this.appendOnly = options.appendOnly ?? false;
    this.#readonly = options.readonly ?? false;
  }

  /**
   * Opens the repository in directory `dir`. Without `create`, a missing directory or database
   * throws 'no-repository' and nothing is created on disk. A file that is not an intact SQLite
   * database throws 'integrity'.
   */
  // eslint-disable-next-line @typescript-eslint/require-await -- async only to reject, not throw
  static async open(
    dir: string,
    options: SqliteStoreOptions = {},
  ): Promise<SqliteStore> {
    const create = options.create ?? false;
    const readonly = options.readonly ?? false;
    if (create && readonly) {
      throw new TypeError("A repository cannot be created read-only");
    }
    const file = join(dir, DATABASE_FILE);
    // Owner-only modes, and never a symlinked database: db-file.ts says why.
    const identity = claimDatabaseFile(dir, file, create);
    if (identity === undefined) throw noRepositoryError(dir);

    let db: Database.Database;
    try {
      // fileMustExist also closes the race with a concurrent delete after the check above.
      db = new Database(file, {
        readonly,
        fileMustExist: true,
        timeout: BUSY_TIMEOUT_MS,
      });
    } catch (error) {
      throw translateError(error, file);
    }
    try {
      checkSameDatabaseFile(file, identity);
      prepareDatabase(db, dir, file, { create, readonly });
      if (options.appendOnly ?? false) enforceAppendOnly(db);
    } catch (error) {
      db.close();
      throw translateError(error, file);
    }
    return new SqliteStore(file, db, options);
  }

  readConfig(): Promise<Uint8Array> {
    return this.#run(() => {
      const config = this.#config().read();
      if (config === undefined) throw noRepositoryError(this.#file);
      return config;
    });
  }

  listKeySlots(): Promise<KeySlot[]> {
    return this.#run(() => listKeySlotsIn(keySlotTable(this.#db)));
  }

  missing(ids: readonly BlobId[]): Promise<BlobId[]> {
    return this.#run(() => {
      const has = this.#cached("SELECT 1 FROM blobs WHERE id = ?").pluck();
      // One read transaction, so the answer is one consistent view of the store.
      return this.#db.transaction(() =>
        missingIn(
          { ...unusedBlobTable, has: (id) => has.get(id) !== undefined },
          ids,
        ),
      )();
    });
  }

  get(id: BlobId): Promise<Uint8Array> {
    return this.#runReadBatch(() => {
      checkId(id);
      const data = this.#cached(
        "SELECT d.data FROM blobs b JOIN blob_data d ON d.rowid = b.data_id WHERE b.id = ?",
      )
        .pluck()
        .get(id) as Buffer | undefined;
      if (data === undefined) throw blobNotFoundError(id);
      return plain(data);
    });
  }

  async *list(kind?: BlobKind): AsyncIterable<BlobInfo> {
    const code = kind === undefined ? undefined : kindCode(kind);
    const query =
      "SELECT id, kind, length FROM blobs WHERE id > ?" +
      (code === undefined ? "" : " AND kind = ?") +
      ` ORDER BY id LIMIT ${PAGE_ROWS}`;
    // Keyset paging (after the last id seen) instead of one open cursor: no statement stays
    // open while the consumer awaits, so other calls on this connection keep working.
    let after: Uint8Array = new Uint8Array(0);
    for (;;) {
      const rows = await this.#run(() => {
        const statement = this.#db.prepare(query);
        return (
          code === undefined ? statement.all(after) : statement.all(after, code)
        ) as BlobRow[];
      });
      for (const row of rows) {
        yield {
          id: plain(row.id),
          kind: kindFromCode(row.kind),
          length: row.length,
        };
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < PAGE_ROWS) return;
      after = last.id;
    }
  }

  generation(): Promise<number> {
    return this.#run(() => generationIn(generationCell(this.#db)));
  }

  acquireLock(request: LockRequest): Promise<LockAttempt> {
    return this.#runWrite(() =>
      this.#db
        .transaction(() =>
          acquireLockIn(
            lockTable(this.#db),
            request,
            this.appendOnly,
            Date.now(),
          ),
        )
        .immediate(),
    );
  }

  refreshLock(id: string, leaseMs: number): Promise<void> {
    return this.#runWrite(() => {
      this.#db
        .transaction(() => {
          refreshLockIn(lockTable(this.#db), id, leaseMs, Date.now());
        })
        .immediate();
    });
  }

  releaseLock(id: string): Promise<void> {
    return this.#runWrite(() => {
      releaseLockIn(lockTable(this.#db), id);
    });
  }

  removeLocks(all: boolean): Promise<LocksRemoved> {
    return this.#runWrite(() =>
      this.#db
        .transaction(() =>
          removeLocksIn(lockTable(this.#db), all, this.appendOnly, Date.now()),
        )
        .immediate(),
    );
  }

  bumpGeneration(): Promise<number> {
    return this.#runWrite(() =>
      this.#db
        .transaction(() =>
          bumpGenerationIn(generationCell(this.#db), this.appendOnly),
        )
        .immediate(),
    );
  }

  compact(): Promise<void> {
    return this.#runWrite(() => {
      refuseIfAppendOnly(this.appendOnly, "compact");
      // VACUUM rewrites the database without the free pages that deleted blobs left behind,
      // so the file shrinks; it needs free disk space about the size of the live data.
      this.#db.exec("VACUUM");
    });
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#endReadBatch();
      this.#db.close();
    }
    return Promise.resolve();
  }

  create(config: Uint8Array, firstKeySlot: KeySlot): Promise<void> {
    return this.#runWrite(() => {
      this.#db
        .transaction(() => {
          createIn(
            this.#config(),
            keySlotTable(this.#db),
            config,
            firstKeySlot,
            `at "${this.#file}"`,
          );
        })
        .immediate();
    });
  }

  addKeySlot(slot: KeySlot): Promise<void> {
    return this.#runWrite(() => {
      this.#db
        .transaction(() => {
          addKeySlotIn(keySlotTable(this.#db), slot);
        })
        .immediate();
    });
  }

  removeKeySlot(name: string): Promise<void> {
    return this.#runWrite(() => {
      this.#db
        .transaction(() => {
          removeKeySlotIn(keySlotTable(this.#db), name, this.appendOnly);
        })
        .immediate();
    });
  }

  put(blobs: readonly BlobToPut[]): Promise<void> {
    return this.#runWrite(() => {
      checkBlobs(blobs);
      if (blobs.length === 0) return;
      // Hashed before the transaction, so the write lock is held only for the writes.
      const hashes = blobs.map((blob) =>
        createHash("sha256").update(blob.bytes).digest(),
      );
      const has = this.#cached("SELECT 1 FROM blobs WHERE id = ?").pluck();
      const insertData = this.#cached(
        "INSERT INTO blob_data (data) VALUES (?)",
      );
      const insertBlob = this.#cached(
        "INSERT INTO blobs (id, kind, length, sha256, data_id) VALUES (?, ?, ?, ?, ?)",
      );
      // has() runs inside the write transaction, so a concurrent writer cannot slip in between.
      const table: BlobTable = {
        ...unusedBlobTable,
        has: (id) => has.get(id) !== undefined,
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
      this.#db
        .transaction(() => {
          putIn(table, blobs);
        })
        .immediate();
    });
  }

  delete(ids: readonly BlobId[]): Promise<void> {
    return this.#runWrite(() => {
      const deleteBlob = this.#db
        .prepare("DELETE FROM blobs WHERE id = ? RETURNING data_id")
        .pluck();
      const deleteData = this.#db.prepare(
        "DELETE FROM blob_data WHERE rowid = ?",
      );
      const table: BlobTable = {
        ...unusedBlobTable,
        remove: (id) => {
          const dataId = deleteBlob.get(id);
          if (dataId !== undefined) deleteData.run(dataId);
        },
      };
      this.#db
        .transaction(() => {
          deleteIn(table, ids, this.appendOnly);
        })
        .immediate();
    });
  }

  /**
   * Re-hashes every stored blob and yields the ids whose bytes no longer match the SHA-256
   * recorded when they were stored: bit rot and tampering found without any key.
   */
  async *scrub(): AsyncIterable<BlobId> {
    let after: Uint8Array = new Uint8Array(0);
    for (;;) {
      const rows = await this.#run(
        () =>
          this.#db
            .prepare(
              `SELECT id, sha256, data_id FROM blobs WHERE id > ? ORDER BY id LIMIT ${PAGE_ROWS}`,
            )
            .all(after) as ScrubRow[],
      );
      for (const row of rows) {
        const intact = await this.#run(() => {
          const data = this.#db
            .prepare("SELECT data FROM blob_data WHERE rowid = ?")
            .pluck()
            .get(row.data_id) as Buffer | undefined;
          return (
            data !== undefined &&
            createHash("sha256").update(data).digest().equals(row.sha256)
          );
        });
        if (!intact) yield plain(row.id);
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < PAGE_ROWS) return;
      after = last.id;
    }
  }

  /**
   * Prepared statements of the hot paths (get, missing, put), prepared once: a restore reads
   * thousands of blobs, and preparing per call cost more than the lookup. Each SQL text is
   * always used in one mode (pluck or not), so sharing the statement is safe.
   */
  readonly #statements = new Map<string, Database.Statement>();

  #config(): Cell<Uint8Array> {
    return configRecord(this.#db, (why) => damagedError(this.#file, why));
  }

  #cached(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs `action` on the open database, turning every SQLite error into a BlindsyncError. */
  // eslint-disable-next-line @typescript-eslint/require-await -- async only to reject, not throw
  async #run<T>(action: () => T): Promise<T> {
    if (this.#closed) throw new TypeError("The store is closed");
    try {
      this.#endReadBatch();
      return action();
    } catch (error) {
      throw translateError(error, this.#file);
    }
  }

  /**
   * Runs a read inside one read transaction shared by every get() of the same turn of the
   * event loop. Outside a transaction each statement takes and drops SQLite's shared lock and
   * re-checks for a hot journal (four fcntl and two stat calls); a restore asks for blobs in
   * bursts of dozens, and one transaction per burst cut serve's time per get by a third. Any
   * other call ends the batch first, so writes never ride in it.
   */
  // eslint-disable-next-line @typescript-eslint/require-await -- async only to reject, not throw
  async #runReadBatch<T>(action: () => T): Promise<T> {
    if (this.#closed) throw new TypeError("The store is closed");
    try {
      if (!this.#readBatch && !this.#db.inTransaction) {
        this.#db.exec("BEGIN");
        this.#readBatch = true;
        setImmediate(() => {
          this.#endReadBatch();
        });
      }
      return action();
    } catch (error) {
      // A failed read (a damaged page, say) ends the batch at once, so the next get starts
      // afresh exactly as it would without batching.
      this.#endReadBatch();
      throw translateError(error, this.#file);
    }
  }

  /**
   * Ends the read batch, if one is open. It only read, so nothing can be lost: a COMMIT that
   * fails (SQLite may already have rolled back after an error) is answered with a ROLLBACK,
   * and a failing ROLLBACK is left for the next statement to report.
   */
  #endReadBatch(): void {
    if (!this.#readBatch) return;
    this.#readBatch = false;
    if (!this.#db.inTransaction) return;
    try {
      this.#db.exec("COMMIT");
    } catch {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // See above.
      }
    }
  }

  #runWrite<T>(action: () => T): Promise<T> {
    return this.#run(() => {
      if (this.#readonly) {
        throw new BlindsyncError(
          "failed",
          `The repository "${this.#file}" is opened read-only`,
        );
      }
      return action();
    });
  }
}

/**
 * Runs SQLite's own structural check of the repository in `dir` (every page and index): 'ok',
 * or one line naming the problems. For crash tests and `check`; reads the whole database.
 *
 * A process killed in the middle of a write leaves a hot journal, which only a read-write
 * connection can roll back (a read-only one fails with "attempt to write a readonly
 * database"). When a journal is present the check therefore opens the database read-write, so
 * SQLite rolls the interrupted transaction back first, exactly as the next open would.
 */
export function sqliteIntegrityCheck(dir: string): string {
  const file = join(dir, DATABASE_FILE);
  if (!existsSync(file)) return `No database at "${file}"`;
  try {
    const journal = existsSync(`${file}-journal`);
    const db = new Database(file, { readonly: !journal, fileMustExist: true });
    try {
      const problems = db.pragma("integrity_check", { simple: false }) as {
        integrity_check: string;
      }[];
      const lines = problems.map((row) => row.integrity_check);
      const size = checkFileSize(db, file);
      if (size !== undefined) lines.push(size);
      return lines.length === 1 && lines[0] === "ok"
        ? "ok"
        : lines.filter((line) => line !== "ok").join("; ");
    } finally {
      db.close();
    }
  } catch (error) {
    return oneLine(describeError(error));
  }
}

function prepareDatabase(
  db: Database.Database,
  dir: string,
  file: string,
  { create, readonly }: { create: boolean; readonly: boolean },
): void {
  if (!readonly) {
    // page_size takes effect only before the first table exists; later it is a harmless no-op.
    db.pragma(`page_size = ${PAGE_SIZE}`);
  }
  // Reading the schema is the first access to the file: SQLITE_NOTADB for garbage surfaces
  // here, and a hot journal left by a crash is rolled back here.
  const tables = db
    .prepare("SELECT count(*) FROM sqlite_schema")
    .pluck()
    .get() as number;
  if (tables === 0) {
    if (!create) throw noRepositoryError(dir);
    db.transaction(() => {
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.exec(CREATE_SCHEMA);
      db.prepare("INSERT INTO config (key, value) VALUES (?, ?)").run(
        SCHEMA_VERSION_KEY,
        SCHEMA_VERSION,
      );
    }).immediate();
  }
  const applicationId = db.pragma("application_id", { simple: true }) as number;
  if (applicationId !== APPLICATION_ID) {
    throw new BlindsyncError(
      "no-repository",
      `"${file}" is a SQLite database but not a blindsync repository`,
    );
  }
  const version = db
    .prepare("SELECT value FROM config WHERE key = ?")
    .pluck()
    .get(SCHEMA_VERSION_KEY);
  if (version !== SCHEMA_VERSION) {
    throw new BlindsyncError(
      "failed",
      `The repository "${file}" has database schema version ${String(version)}, and this blindsync reads only version ${SCHEMA_VERSION}`,
      { hint: "Use the blindsync version that wrote it, or a newer one" },
    );
  }
  const truncated = checkFileSize(db, file);
  if (truncated !== undefined) throw damagedError(file, truncated);
  if (!readonly) {
    db.pragma("journal_mode = DELETE");
    db.pragma("synchronous = FULL");
  }
  db.pragma(`cache_size = ${-CACHE_SIZE_KIB}`);
}

/**
 * A database file shorter than its header's page count has lost its tail (a truncated copy);
 * SQLite would only notice when a query reaches a missing page. Exact in rollback-journal mode,
 * where the main file always holds every committed page.
 */
function checkFileSize(
  db: Database.Database,
  file: string,
): string | undefined {
  const pageCount = db.pragma("page_count", { simple: true }) as number;
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  const expected = pageCount * pageSize;
  const actual = statSync(file).size;
  return actual < expected
    ? `the file is ${actual} bytes, but its header promises ${expected}`
    : undefined;
}

function noRepositoryError(dir: string): BlindsyncError {
  return new BlindsyncError("no-repository", `No repository at "${dir}"`, {
    hint: `Create one with: blindsync init ${dir}`,
  });
}

function damagedError(
  file: string,
  why: string,
  cause?: unknown,
): BlindsyncError {
  return new BlindsyncError(
    "integrity",
    `The repository database "${file}" is damaged: ${oneLine(why)}`,
    {
      hint: "Restore the repository directory from a copy, or salvage blobs with sqlite3's .recover",
      cause,
    },
  );
}

function translateError(error: unknown, file: string): unknown {
  if (!(error instanceof Database.SqliteError)) return error;
  const code = error.code;
  if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") {
    return damagedError(file, error.message, error);
  }
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    return new BlindsyncError(
      "locked",
      `The repository database "${file}" is busy: ${oneLine(error.message)}`,
      {
        hint: "Another process is writing to it; try again later",
        cause: error,
      },
    );
  }
  if (error.message.includes(APPEND_ONLY_MESSAGE)) {
    return appendOnlyError("delete or overwrite stored data");
  }
  return new BlindsyncError(
    "failed",
    `The repository database "${file}" failed: ${oneLine(error.message)} (${code})`,
    { cause: error },
  );
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
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
