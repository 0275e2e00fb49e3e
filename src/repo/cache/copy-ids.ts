/**
 * What `copy` remembers between runs: the id each source blob has in the destination. Blob ids
 * are keyed (HMAC-SHA256 under each repository's own id key), so a source blob's destination
 * id can only be computed from its plaintext; without this map every copy would download and
 * decrypt every blob of every snapshot it copies, even when the destination holds them all
 * (a daily copy of a backup that changed by a few files).
 *
 * A row is a fact about two sets of keys (the same plaintext under both), never a claim that
 * the destination holds the blob: that is still asked of the known blobs and the store. So a
 * row stays true across a prune of either side; only other keys make it false, and the file
 * records whose keys it was made with (both repository ids and key check values) and starts
 * afresh when they differ. A tree's row is written only once every blob below the tree is
 * durable in the destination, so a tree the destination still holds (the known blobs, which a
 * prune makes the cache forget) needs no walk below it.
 *
 * One file per destination location and source repository, beside the destination's cache,
 * owner-only like the rest; a hint, as the whole cache is: losing it costs time, never data.
 */
import { unlinkSync } from "node:fs";
import Database from "better-sqlite3";
import type { BlobId } from "../../store/index.js";
import { bytesEqual, toHex } from "../../util/bytes.js";
import { prepareDatabaseFile } from "./location.js";

/** Both repositories' identities: rows made under other keys mean nothing. */
export interface CopyKeys {
  readonly sourceId: Uint8Array;
  readonly sourceKeyCheck: Uint8Array;
  readonly destinationId: Uint8Array;
  readonly destinationKeyCheck: Uint8Array;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS copy_keys (
  only INTEGER PRIMARY KEY CHECK (only = 1),
  keys BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS ids (
  source BLOB PRIMARY KEY,
  destination BLOB NOT NULL
) WITHOUT ROWID;
`;

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

function keysBytes(keys: CopyKeys): Uint8Array {
  return Buffer.concat([
    keys.sourceId,
    keys.sourceKeyCheck,
    keys.destinationId,
    keys.destinationKeyCheck,
  ]);
}

export class CopyIds {
  readonly #db: Database.Database;
  readonly #select: Database.Statement;
  readonly #insertMany: (rows: readonly (readonly [BlobId, BlobId])[]) => void;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#select = db
      .prepare("SELECT destination FROM ids WHERE source = ?")
      .pluck();
    const insert = db.prepare(
      "INSERT OR REPLACE INTO ids (source, destination) VALUES (?, ?)",
    );
    // One transaction per call: a commit per row would cost a sync per row.
    this.#insertMany = db.transaction(
      (rows: readonly (readonly [BlobId, BlobId])[]) => {
        for (const [source, destination] of rows)
          insert.run(source, destination);
      },
    );
  }

  /** Opens (creating if needed) the map of copies from one repository into a location. */
  static open(
    cacheRoot: string,
    destinationKey: string,
    keys: CopyKeys,
  ): CopyIds {
    const name = `copy-from-${toHex(keys.sourceId).slice(0, 32)}.sqlite`;
    const file = prepareDatabaseFile(cacheRoot, destinationKey, name);
    let db = new Database(file);
    if (!CopyIds.#matches(db, keys)) {
      // Made under other keys (a repository created anew at either location): start afresh.
      db.close();
      for (const suffix of ["", "-wal", "-shm", "-journal"])
        removeIfPresent(file + suffix);
      db = new Database(prepareDatabaseFile(cacheRoot, destinationKey, name));
    }
    db.pragma("journal_mode = WAL");
    // A hint: a power loss may lose the last rows (they are made again), never add wrong ones.
    db.pragma("synchronous = NORMAL");
    db.exec(SCHEMA);
    db.prepare(
      "INSERT OR IGNORE INTO copy_keys (only, keys) VALUES (1, ?)",
    ).run(keysBytes(keys));
    return new CopyIds(db);
  }

  static #matches(db: Database.Database, keys: CopyKeys): boolean {
    db.exec(SCHEMA);
    const stored = db
      .prepare("SELECT keys FROM copy_keys WHERE only = 1")
      .pluck()
      .get() as Uint8Array | undefined;
    return stored === undefined || bytesEqual(stored, keysBytes(keys));
  }

  /** The destination id of a source blob, when an earlier copy computed it. */
  get(source: BlobId): BlobId | undefined {
    const found = this.#select.get(source) as Buffer | undefined;
    return found === undefined ? undefined : new Uint8Array(found);
  }

  /** Records pairs of (source id, destination id). */
  add(rows: readonly (readonly [BlobId, BlobId])[]): void {
    if (rows.length > 0) this.#insertMany(rows);
  }

  close(): void {
    this.#db.close();
  }
}
