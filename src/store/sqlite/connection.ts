/**
 * How the SQLite store runs its calls on its one connection: each call runs to completion (one
 * transaction) before the next starts, every SQLite error leaves as a BlindsyncError, writes
 * are refused on a read-only store, the gets of one turn of the event loop share one read
 * transaction, and buffered puts share one write transaction until a sync point
 * (write-batch.ts).
 *
 * better-sqlite3 is synchronous; the runners are async only to fit the Store interface.
 */
import type Database from "better-sqlite3";
import { BlindsyncError } from "../../errors.js";
import { translateError } from "./errors.js";
import { WriteBatch } from "./write-batch.js";

export class SqliteConnection {
  readonly db: Database.Database;
  readonly #file: string;
  readonly #readonly: boolean;
  #closed = false;
  /** A read transaction opened by runReadBatch() is running. */
  #readBatch = false;
  readonly #writeBatch: WriteBatch;

  constructor(file: string, db: Database.Database, readonly: boolean) {
    this.#file = file;
    this.db = db;
    this.#readonly = readonly;
    this.#writeBatch = new WriteBatch(db);
  }

  /** Runs `action` on the open database, turning every SQLite error into a BlindsyncError. */
  // eslint-disable-next-line @typescript-eslint/require-await -- async only to reject, not throw
  async run<T>(action: () => T): Promise<T> {
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
  async runReadBatch<T>(action: () => T): Promise<T> {
    if (this.#closed) throw new TypeError("The store is closed");
    try {
      if (!this.#readBatch && !this.db.inTransaction) {
        this.db.exec("BEGIN");
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
   * Runs a durable write: it commits the open write batch first (a sync point for the buffered
   * puts before it), then `action`, whose own transaction is durable when it returns.
   */
  runWrite<T>(action: () => T): Promise<T> {
    return this.run(() => {
      this.#refuseIfReadonly();
      this.#writeBatch.commit();
      return action();
    });
  }

  /**
   * Runs a write that may wait for the next sync point: `action` runs inside the open write
   * batch (write-batch.ts says when it commits), its `bytes` counted towards the batch's size.
   */
  runBufferedWrite<T>(bytes: number, action: () => T): Promise<T> {
    return this.run(() => {
      this.#refuseIfReadonly();
      return this.#writeBatch.add(bytes, action);
    });
  }

  /** A sync point: everything written so far is durable when this resolves. */
  flush(): Promise<void> {
    return this.run(() => {
      this.#writeBatch.commit();
    });
  }

  /**
   * Idempotent. Commits the open write batch first; if that fails the buffered puts are lost,
   * as a crash would lose them (they were never promised), and the database still closes.
   */
  close(): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#endReadBatch();
      try {
        this.#writeBatch.commit();
      } catch {
        // See above: nothing acknowledged as durable is lost.
      }
      this.db.close();
    }
  }

  #refuseIfReadonly(): void {
    if (this.#readonly) {
      throw new BlindsyncError(
        "failed",
        `The repository "${this.#file}" is opened read-only`,
      );
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
    if (!this.db.inTransaction) return;
    try {
      this.db.exec("COMMIT");
    } catch {
      try {
        this.db.exec("ROLLBACK");
      } catch {
        // See above.
      }
    }
  }
}
