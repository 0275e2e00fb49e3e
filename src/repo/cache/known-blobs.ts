/**
 * Blob ids known to exist in the store, so a re-run asks the store nothing about them; and
 * their forgetting when a prune may have deleted some, in step with the pin's generation.
 */
import type Database from "better-sqlite3";
import type { BlobId } from "../../store/index.js";
import { advancePin, readPin } from "./pin.js";

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
    this.db.exec("DELETE FROM blobs; DELETE FROM files; DELETE FROM dirs;");
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
