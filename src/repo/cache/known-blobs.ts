/**
 * Blob ids known to exist in the store, so a re-run asks the store nothing about them; and
 * their forgetting when a prune may have deleted some, in step with the pin's generation.
 */
import type Database from "better-sqlite3";
import type { BlobId } from "../../store/index.js";
import { advancePin, readPin } from "./pin.js";
import { CACHE_SYNCHRONOUS } from "./schema.js";

/**
 * Ids inserted per statement: a backup of many small files records one id per file, and one
 * statement per row cost more than the row (docs/performance.md, many small files).
 */
const IDS_PER_INSERT = 64;

export class KnownBlobs {
  private readonly selectBlob: Database.Statement;
  private readonly insertMany: (ids: readonly BlobId[]) => void;

  constructor(private readonly db: Database.Database) {
    this.selectBlob = db.prepare("SELECT 1 FROM blobs WHERE id = ?").pluck();
    const insertBlob = db.prepare(
      "INSERT OR IGNORE INTO blobs (id) VALUES (?)",
    );
    const insertBlobs = db.prepare(
      `INSERT OR IGNORE INTO blobs (id) VALUES ${Array(IDS_PER_INSERT).fill("(?)").join(",")}`,
    );
    // One transaction (a savepoint inside a backup's run): outside a run, as in `copy`, a
    // commit per id would cost a sync per id.
    this.insertMany = db.transaction((ids: readonly BlobId[]) => {
      let index = 0;
      for (; index + IDS_PER_INSERT <= ids.length; index += IDS_PER_INSERT)
        insertBlobs.run(ids.slice(index, index + IDS_PER_INSERT));
      for (; index < ids.length; index++) insertBlob.run(ids[index]);
    });
  }

  has(id: BlobId): boolean {
    return this.selectBlob.get(id) !== undefined;
  }

  add(ids: readonly BlobId[]): void {
    if (ids.length > 0) this.insertMany(ids);
  }

  /**
   * Forgets every blob, file and directory believed to exist (after a prune, or another
   * repository): a file's or a directory's row vouches for the blobs it names.
   */
  forgetAll(): void {
    const forget = "DELETE FROM blobs; DELETE FROM files; DELETE FROM dirs;";
    // Inside a backup's run the deletes commit with the run (SQLite cannot change the level
    // inside a transaction). syncGeneration() calls this before the run begins, where it must
    // be durable before it returns although the cache runs synchronous=NORMAL: the pin's
    // generation moves on next, and a forgetting lost to a power loss would leave the cache
    // vouching for blobs a prune deleted. In WAL mode a FULL commit syncs the log.
    if (this.db.inTransaction) {
      this.db.exec(forget);
      return;
    }
    this.db.pragma("synchronous = FULL");
    try {
      this.db.exec(forget);
    } finally {
      this.db.pragma(`synchronous = ${CACHE_SYNCHRONOUS}`);
    }
  }

  /**
   * Brings the cache in line with the store's prune generation: when a prune ran since the
   * cache last looked, every remembered blob (and file, whose chunks may be gone) is forgotten.
   */
  syncGeneration(
    cacheRoot: string,
    locationKey: string,
    generation: number,
  ): void {
    const pin = readPin(cacheRoot, locationKey);
    if (pin === undefined || pin.generation === generation) return;
    // In this order: a crash in between only makes the next run forget again. The other
    // order could leave a pin that says "seen the prune" over blobs the prune deleted.
    this.forgetAll();
    advancePin(cacheRoot, locationKey, { ...pin, generation });
  }
}
