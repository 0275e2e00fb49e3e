/**
 * Buffered puts of the SQLite store share one write transaction until a sync point
 * (DESIGN.md: durability at sync points). Each commit in rollback-journal mode with
 * `synchronous=FULL` costs four fsyncs and a journal file made and deleted, and a backup puts
 * a batch every 4 MiB: a 512 MiB file made 117 commits, 473 fsyncs (docs/performance.md,
 * durability at sync points). Here the batches ride in one transaction that commits:
 *
 * - at a sync point: flush(), or any durable write (a put without `buffer`, a snapshot, a key
 *   slot, a lock, a delete), which commits the batch before its own transaction;
 * - once MAX_BATCH_BYTES are in it, so the journal and SQLite's dirty pages stay small: half
 *   the 32 MiB page cache (schema.ts), so nothing spills into the database before the commit.
 *   A spill takes the exclusive lock until the commit, and a reader in another process (or in
 *   this one, whose wait then blocks the timer that would commit) waits for it;
 * - MAX_BATCH_AGE_MS after it began, so that another process waiting to write (its busy
 *   timeout is 10 s) or a reader in another process sees the blobs soon.
 *
 * Rollback mode stays, with every guarantee it gave: a blob is written once (WAL would write
 * it twice), the main file holds every committed page (the truncation check stays exact), a
 * read-only open needs no -shm file. A crash before the commit loses the uncommitted batches
 * whole (the next open rolls back a hot journal, if the transaction spilled): they were never
 * acknowledged as durable, and the client records blobs as stored only after a flush.
 */
import type Database from "better-sqlite3";

/** Bytes of blobs after which the open batch commits without waiting for a sync point. */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/** How long a batch may stay open before it commits by itself. */
export const MAX_BATCH_AGE_MS = 1000;

export class WriteBatch {
  readonly #db: Database.Database;
  /** The open transaction, if any: bytes put in it and the timer that commits it. */
  #open: { bytes: number; timer: NodeJS.Timeout } | undefined;
  /**
   * Why a commit that no caller was waiting for (the timer's) failed. Its blobs are lost, so
   * the next call that writes or is a sync point fails with it (once: the caller that hears
   * it, a backup's put or flush, stops there), and nothing claims they are stored.
   */
  #failure: Error | undefined;

  /** Errors leave raw: the connection's runners translate them. */
  constructor(db: Database.Database) {
    this.#db = db;
  }

  /**
   * Runs `action` inside the open batch, beginning one if needed. `action` runs its own
   * transaction, which better-sqlite3 turns into a savepoint here, so a failing put undoes
   * only itself and the batch stays.
   */
  add<T>(bytes: number, action: () => T): T {
    this.#throwFailure();
    if (this.#open === undefined) {
      // IMMEDIATE: the write lock is taken now, as each put's own transaction took it.
      this.#db.exec("BEGIN IMMEDIATE");
      const timer = setTimeout(() => {
        this.#commitUnawaited();
      }, MAX_BATCH_AGE_MS);
      timer.unref();
      this.#open = { bytes: 0, timer };
    }
    const result = action();
    this.#open.bytes += bytes;
    if (this.#open.bytes >= MAX_BATCH_BYTES) this.commit();
    return result;
  }

  /**
   * Commits the open batch (durably: the connection runs `synchronous=FULL`). Throws the
   * failure of an earlier commit, or this one's, after rolling back what is left.
   */
  commit(): void {
    this.#throwFailure();
    const open = this.#open;
    if (open === undefined) return;
    this.#open = undefined;
    clearTimeout(open.timer);
    try {
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#rollBack();
      throw error;
    }
  }

  #commitUnawaited(): void {
    try {
      this.commit();
    } catch (error) {
      this.#failure = error instanceof Error ? error : new Error(String(error));
    }
  }

  #rollBack(): void {
    try {
      if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
    } catch {
      // SQLite rolls back by itself when COMMIT failed with I/O; nothing more to do.
    }
  }

  #throwFailure(): void {
    const failure = this.#failure;
    if (failure === undefined) return;
    this.#failure = undefined;
    throw failure;
  }
}
