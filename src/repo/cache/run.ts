/**
 * A backup run's lifecycle in the client cache: its number, whether it sweeps, the rows it saw,
 * and the one write transaction it holds from beginRun to finishRun (WAL mode, so readers never
 * wait for it), committed now and then at checkpoints. The files and directory caches stamp
 * their rows with the run's number and count what they saw here.
 */
import type Database from "better-sqlite3";

/**
 * Rows of files no longer seen (deleted or newly excluded) that a run leaves in place before
 * it asks the next run to sweep: at least this many, and at least 1/STALE_SHARE of the table.
 */
const STALE_ROWS_KEPT = 256;
const STALE_SHARE = 16;

export class CacheRun {
  private runId = 0;
  /** This run marks every row it reuses, and forgets the rest at its end (see begin). */
  private sweepingRun = false;
  /** Rows this run found unchanged or recorded: the others are stale. */
  private rowsSeen = 0;
  /** The files table was empty when this run began (a first backup, or after a prune). */
  private filesEmptyAtBegin = false;

  constructor(private readonly db: Database.Database) {}

  /** The number rows recorded in this run carry. */
  get id(): number {
    return this.runId;
  }

  /** Whether this run marks what it sees and forgets the rest (so must see everything). */
  get sweeping(): boolean {
    return this.sweepingRun;
  }

  /**
   * Whether this run began with no file recorded: then no file can be found unchanged, and a
   * first backup of many small files skips a lookup per file (docs/performance.md).
   */
  get beganEmpty(): boolean {
    return this.filesEmptyAtBegin;
  }

  /** Counts rows found unchanged or recorded in this run. */
  countSeen(rows: number): void {
    this.rowsSeen += rows;
  }

  /**
   * Starts a backup run. Marking every unchanged file's row as seen would rewrite the whole
   * table on every re-run (an UPDATE per file, and every page in the WAL); so a run only reads
   * them, counts what it saw, and finish() compares that with the table. When the rows of
   * files no longer there pass a bound, the next run sweeps: it marks what it sees and forgets
   * the rest. Stale rows cost only space: a row answers only for the identity it recorded.
   */
  begin(): void {
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
    this.sweepingRun =
      last === undefined ||
      this.db.prepare("SELECT 1 FROM sweep_next_run").get() !== undefined;
    this.rowsSeen = 0;
    this.db.exec("BEGIN");
    this.filesEmptyAtBegin =
      this.db.prepare("SELECT rows FROM file_count").pluck().get() === 0;
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
  finish(): void {
    this.filesEmptyAtBegin = false;
    if (this.sweepingRun) {
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
  abort(): void {
    this.filesEmptyAtBegin = false;
    if (this.db.inTransaction) this.db.exec("ROLLBACK");
  }

  /** Commits what the run recorded so far (keeps memory and WAL bounded on long runs). */
  checkpoint(): void {
    if (!this.db.inTransaction) return;
    this.db.exec("COMMIT");
    this.db.exec("BEGIN");
  }
}
