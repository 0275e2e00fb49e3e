import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_BATCH_AGE_MS, WriteBatch } from "./write-batch.js";

/**
 * The commit that no caller waits for (the age timer's) failing for real: a reader in another
 * connection holds its shared lock, so the writer's COMMIT cannot take the exclusive one and,
 * with no busy timeout, fails at once with SQLITE_BUSY.
 */
describe("WriteBatch when a commit fails", () => {
  let dir: string;
  let writer: Database.Database;
  let reader: Database.Database;
  let batch: WriteBatch;

  const insert = (value: number): void => {
    batch.add(8, () =>
      writer.prepare("INSERT INTO t (value) VALUES (?)").run(value),
    );
  };
  const stored = (): number[] =>
    (
      writer.prepare("SELECT value FROM t ORDER BY value").all() as {
        value: number;
      }[]
    ).map((row) => row.value);

  /** Starts a read transaction in the other connection; returns its end. */
  const holdReadLock = (): (() => void) => {
    reader.exec("BEGIN");
    reader.prepare("SELECT count(*) FROM t").get();
    return () => reader.exec("COMMIT");
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "blindsync-write-batch-"));
    const file = join(dir, "db.sqlite");
    writer = new Database(file, { timeout: 0 });
    writer.exec("CREATE TABLE t (value INTEGER)");
    reader = new Database(file, { timeout: 0 });
    batch = new WriteBatch(writer);
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });

  afterEach(() => {
    vi.useRealTimers();
    reader.close();
    writer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the timer's failed commit is thrown by the next write, once, and its rows are not stored", () => {
    insert(1);
    const release = holdReadLock();
    vi.advanceTimersByTime(MAX_BATCH_AGE_MS);
    release();
    expect(writer.inTransaction).toBe(false);
    expect(() => {
      insert(2);
    }).toThrow(/locked|busy/i);
    // The lost batch is gone whole: nothing claims row 1 is stored.
    expect(stored()).toEqual([]);
    // Heard once: the next batch works and commits.
    insert(3);
    batch.commit();
    expect(stored()).toEqual([3]);
  });

  it("a sync point after the timer's failure throws it instead of committing", () => {
    insert(1);
    const release = holdReadLock();
    vi.advanceTimersByTime(MAX_BATCH_AGE_MS);
    release();
    expect(() => {
      batch.commit();
    }).toThrow(/locked|busy/i);
    batch.commit();
    expect(stored()).toEqual([]);
  });

  it("a sync point whose own commit fails throws, and leaves no transaction open", () => {
    insert(1);
    const release = holdReadLock();
    expect(() => {
      batch.commit();
    }).toThrow(/locked|busy/i);
    release();
    expect(writer.inTransaction).toBe(false);
    expect(stored()).toEqual([]);
    insert(2);
    batch.commit();
    expect(stored()).toEqual([2]);
  });
});
