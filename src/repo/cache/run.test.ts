import { readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KnownBlobs } from "./known-blobs.js";
import { CacheRun } from "./run.js";
import {
  BUSY_TIMEOUT_MS,
  openCacheDatabase,
  readCacheDatabase,
} from "./schema.js";

const LOCATION = "/tmp/some-repository";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "blindsync-cache-run-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A second connection to the cache, as another command would open it. */
function other(): Database.Database {
  const [dir] = readdirSync(root);
  return new Database(join(root, dir as string, "cache.sqlite"));
}

const insertFile = (db: Database.Database, path: string, run: number) =>
  db
    .prepare(
      `INSERT INTO files (path, ino, size, mtime_ns, ctime_ns, sha256, content, run)
       VALUES (?, 1, 1, 1, 1, x'00', x'00', ?)`,
    )
    .run(Buffer.from(path), run);

describe("the cache database", () => {
  it("is made owner-only in WAL mode with normal sync, and read-only reading creates nothing", () => {
    expect(readCacheDatabase(root, LOCATION, () => 1)).toBeUndefined();
    expect(readdirSync(root)).toEqual([]);
    const db = openCacheDatabase(root, LOCATION);
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      // 1 is NORMAL: the cache is a hint; only forgetting raises it (the next test).
      expect(db.pragma("synchronous", { simple: true })).toBe(1);
      expect(db.prepare("SELECT rows FROM file_count").pluck().get()).toBe(0);
    } finally {
      db.close();
    }
    const [dir] = readdirSync(root);
    expect(
      statSync(join(root, dir as string, "cache.sqlite")).mode & 0o777,
    ).toBe(0o600);
    expect(
      readCacheDatabase(root, LOCATION, (read) =>
        read.prepare("SELECT count(*) FROM files").pluck().get(),
      ),
    ).toBe(0);
  });
  it("forgets blobs with a durable commit (synchronous FULL), then returns to NORMAL", () => {
    const db = openCacheDatabase(root, LOCATION);
    try {
      const blobs = new KnownBlobs(db);
      blobs.add([new Uint8Array(32).fill(7)]);
      const levels: unknown[] = [];
      const exec = db.exec.bind(db);
      // The level in force when the DELETEs run: FULL makes their WAL commit sync the log.
      db.exec = (sql: string) => {
        levels.push(db.pragma("synchronous", { simple: true }));
        return exec(sql);
      };
      blobs.forgetAll();
      expect(levels).toEqual([2]);
      expect(blobs.has(new Uint8Array(32).fill(7))).toBe(false);
      expect(db.pragma("synchronous", { simple: true })).toBe(1);
    } finally {
      db.close();
    }
  });
  it("waits as long for a backup's write lock when read-only as when opened to write", () => {
    const db = openCacheDatabase(root, LOCATION);
    try {
      expect(db.pragma("busy_timeout", { simple: true })).toBe(BUSY_TIMEOUT_MS);
    } finally {
      db.close();
    }
    expect(
      readCacheDatabase(root, LOCATION, (read) =>
        read.pragma("busy_timeout", { simple: true }),
      ),
    ).toBe(BUSY_TIMEOUT_MS);
  });
});

describe("a backup run", () => {
  it("numbers itself after the last run and holds one transaction that checkpoints commit", () => {
    const db = openCacheDatabase(root, LOCATION);
    const run = new CacheRun(db);
    try {
      run.begin();
      expect(run.id).toBe(1);
      // A new cache cannot know what earlier runs left behind, so its first run sweeps.
      expect(run.sweeping).toBe(true);
      expect(db.inTransaction).toBe(true);
      insertFile(db, "a", run.id);
      const reader = other();
      try {
        expect(reader.prepare("SELECT count(*) FROM files").pluck().get()).toBe(
          0,
        );
        run.checkpoint();
        expect(db.inTransaction).toBe(true);
        expect(reader.prepare("SELECT count(*) FROM files").pluck().get()).toBe(
          1,
        );
        // Given up after the checkpoint: what came before it stays.
        insertFile(db, "b", run.id);
        run.abort();
        expect(db.inTransaction).toBe(false);
        expect(reader.prepare("SELECT count(*) FROM files").pluck().get()).toBe(
          1,
        );
      } finally {
        reader.close();
      }
      run.begin();
      expect(run.id).toBe(2);
      run.finish();
      expect(db.inTransaction).toBe(false);
      run.begin();
      expect(run.id).toBe(3);
      expect(run.sweeping).toBe(false);
      run.abort();
    } finally {
      db.close();
    }
  });

  it("asks the next run to sweep when too many rows went unseen, unless they were counted", () => {
    const db = openCacheDatabase(root, LOCATION);
    const run = new CacheRun(db);
    try {
      run.begin();
      for (let i = 0; i < 300; i++) insertFile(db, `f${i}`, run.id);
      run.finish();
      // 300 rows, all counted as seen (as a reused directory's files are): no sweep next.
      run.begin();
      run.countSeen(300);
      run.finish();
      run.begin();
      expect(run.sweeping).toBe(false);
      // 300 unseen: more than 256 and 1/16 of the table, so the next run sweeps.
      run.finish();
      run.begin();
      expect(run.sweeping).toBe(true);
      // The sweep forgets every row this run did not stamp with its number.
      insertFile(db, "kept", run.id);
      run.finish();
      expect(db.prepare("SELECT path FROM files").pluck().all()).toEqual([
        Buffer.from("kept"),
      ]);
      run.begin();
      expect(run.sweeping).toBe(false);
      run.abort();
    } finally {
      db.close();
    }
  });
});
