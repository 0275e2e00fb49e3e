/**
 * The Store that keeps bytes: a local repository is a directory holding one SQLite database
 * (schema.ts; format, settings and their measurements in docs/storage.md). `blindsync serve`
 * exposes exactly this class over the wire.
 *
 * Each method runs the rule of store/rules for its call inside one transaction on the store's
 * one connection (connection.ts), on the records of tables.ts and blob-rows.ts; opening and its
 * checks are in open-database.ts, the error wording in errors.ts.
 */

import type Database from "better-sqlite3";
import type {
  BlobId,
  BlobInfo,
  BlobKind,
  BlobToPut,
  KeySlot,
  LockAttempt,
  LockRequest,
  LocksRemoved,
  PutOptions,
  Store,
} from "../store.js";
import {
  acquireLockIn,
  addKeySlotIn,
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
  type Cell,
} from "../rules/index.js";
import { BlobRows, PAGE_ROWS, hashesOf } from "./blob-rows.js";
import { SqliteConnection } from "./connection.js";
import { damagedError, noRepositoryError } from "./errors.js";
import { openDatabase } from "./open-database.js";
import { kindCode, kindFromCode } from "./schema.js";
import {
  configRecord,
  generationCell,
  keySlotTable,
  lockTable,
  plain,
} from "./tables.js";

// Its own module since the store was split; exported here too, beside the store it checks.
export { sqliteIntegrityCheck } from "./integrity-check.js";

export interface SqliteStoreOptions {
  /** Make the directory and the database if missing (`init`); `create()` then writes the repository. */
  readonly create?: boolean;
  /** Refuse deletes and overwrites, in this class and in the database (`serve --append-only`). */
  readonly appendOnly?: boolean;
  /** Open the database read-only (restore, check); every write throws. */
  readonly readonly?: boolean;
}

export class SqliteStore implements Store {
  readonly appendOnly: boolean;
  readonly #file: string;
  readonly #connection: SqliteConnection;
  readonly #db: Database.Database;
  readonly #blobs: BlobRows;

  private constructor(
    file: string,
    connection: SqliteConnection,
    appendOnly: boolean,
  ) {
    this.#file = file;
    this.#connection = connection;
    this.#db = connection.db;
    this.#blobs = new BlobRows(connection.db);
    this.appendOnly = appendOnly;
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
    const appendOnly = options.appendOnly ?? false;
    if (create && readonly) {
      throw new TypeError("A repository cannot be created read-only");
    }
    const { file, db } = openDatabase(dir, { create, readonly, appendOnly });
    return new SqliteStore(
      file,
      new SqliteConnection(file, db, readonly),
      appendOnly,
    );
  }

  readConfig(): Promise<Uint8Array> {
    return this.#connection.run(() => {
      const config = this.#config().read();
      if (config === undefined) throw noRepositoryError(this.#file);
      return config;
    });
  }

  listKeySlots(): Promise<KeySlot[]> {
    return this.#connection.run(() => listKeySlotsIn(keySlotTable(this.#db)));
  }

  missing(ids: readonly BlobId[]): Promise<BlobId[]> {
    return this.#connection.run(() => {
      const table = this.#blobs.lookup();
      // One read transaction, so the answer is one consistent view of the store.
      return this.#db.transaction(() => missingIn(table, ids))();
    });
  }

  get(id: BlobId): Promise<Uint8Array> {
    return this.#connection.runReadBatch(() => {
      checkId(id);
      const data = this.#blobs.data(id);
      if (data === undefined) throw blobNotFoundError(id);
      return plain(data);
    });
  }

  async *list(kind?: BlobKind): AsyncIterable<BlobInfo> {
    const code = kind === undefined ? undefined : kindCode(kind);
    let after: Uint8Array = new Uint8Array(0);
    for (;;) {
      const rows = await this.#connection.run(() =>
        this.#blobs.page(after, code),
      );
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
    return this.#connection.run(() => generationIn(generationCell(this.#db)));
  }

  acquireLock(request: LockRequest): Promise<LockAttempt> {
    return this.#writeTransaction(() =>
      acquireLockIn(lockTable(this.#db), request, this.appendOnly, Date.now()),
    );
  }

  refreshLock(id: string, leaseMs: number): Promise<void> {
    return this.#writeTransaction(() => {
      refreshLockIn(lockTable(this.#db), id, leaseMs, Date.now());
    });
  }

  releaseLock(id: string): Promise<void> {
    return this.#connection.runWrite(() => {
      releaseLockIn(lockTable(this.#db), id);
    });
  }

  removeLocks(all: boolean): Promise<LocksRemoved> {
    return this.#writeTransaction(() =>
      removeLocksIn(lockTable(this.#db), all, this.appendOnly, Date.now()),
    );
  }

  bumpGeneration(): Promise<number> {
    return this.#writeTransaction(() =>
      bumpGenerationIn(generationCell(this.#db), this.appendOnly),
    );
  }

  compact(): Promise<void> {
    return this.#connection.runWrite(() => {
      refuseIfAppendOnly(this.appendOnly, "compact");
      // VACUUM rewrites the database without the free pages that deleted blobs left behind,
      // so the file shrinks; it needs free disk space about the size of the live data.
      this.#db.exec("VACUUM");
    });
  }

  close(): Promise<void> {
    this.#connection.close();
    return Promise.resolve();
  }

  create(config: Uint8Array, firstKeySlot: KeySlot): Promise<void> {
    return this.#writeTransaction(() => {
      createIn(
        this.#config(),
        keySlotTable(this.#db),
        config,
        firstKeySlot,
        `at "${this.#file}"`,
      );
    });
  }

  addKeySlot(slot: KeySlot): Promise<void> {
    return this.#writeTransaction(() => {
      addKeySlotIn(keySlotTable(this.#db), slot);
    });
  }

  removeKeySlot(name: string): Promise<void> {
    return this.#writeTransaction(() => {
      removeKeySlotIn(keySlotTable(this.#db), name, this.appendOnly);
    });
  }

  /**
   * With `buffer` (and no snapshot among the blobs) the batch joins the connection's open
   * write transaction and is durable at the next sync point (write-batch.ts); otherwise it
   * commits durably before the promise resolves, with every buffered batch before it.
   */
  put(blobs: readonly BlobToPut[], options: PutOptions = {}): Promise<void> {
    const store = (): void => {
      checkBlobs(blobs);
      if (blobs.length === 0) return;
      // Hashed before the transaction, so the write lock is held only for the writes; has()
      // runs inside the write transaction, so a concurrent writer cannot slip in between.
      const table = this.#blobs.writer(hashesOf(blobs));
      this.#db
        .transaction(() => {
          putIn(table, blobs);
        })
        .immediate();
    };
    const buffered =
      options.buffer === true && !blobs.some((b) => b.kind === "snapshot");
    if (!buffered) return this.#connection.runWrite(store);
    let bytes = 0;
    for (const blob of blobs) bytes += blob.bytes.length;
    return this.#connection.runBufferedWrite(bytes, store);
  }

  /** A sync point: every blob put with `buffer` so far is durable when this resolves. */
  flush(): Promise<void> {
    return this.#connection.flush();
  }

  delete(ids: readonly BlobId[]): Promise<void> {
    return this.#connection.runWrite(() => {
      const table = this.#blobs.remover();
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
      const rows = await this.#connection.run(() =>
        this.#blobs.scrubPage(after),
      );
      for (const row of rows) {
        const intact = await this.#connection.run(() =>
          this.#blobs.intact(row),
        );
        if (!intact) yield plain(row.id);
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < PAGE_ROWS) return;
      after = last.id;
    }
  }

  #config(): Cell<Uint8Array> {
    return configRecord(this.#db, (why) => damagedError(this.#file, why));
  }

  /** Runs `action` as one IMMEDIATE transaction: it takes the write lock before it reads. */
  #writeTransaction<T>(action: () => T): Promise<T> {
    return this.#connection.runWrite(() =>
      this.#db.transaction(action).immediate(),
    );
  }
}
