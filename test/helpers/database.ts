/**
 * A local repository's SQLite file read and edited directly, as a hostile or broken server
 * could (docs/storage.md: `blobs(id, kind, length, sha256, data_id)`, `blob_data(rowid, data)`,
 * `key_slots(name, bytes)`), never through blindsync's own store code.
 */
import { copyFileSync, existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { DATABASE_FILE } from "./constants.js";

export interface BlobRow {
  readonly id: Buffer;
  readonly kind: number;
  readonly length: number;
  readonly data_id: number;
}

export function databaseOf(repo: string): string {
  return join(repo, DATABASE_FILE);
}

/**
 * Runs `work` on the database of the repository directory `repo` and closes it. A reader opens
 * it read-only unless a hot journal lies beside it: after a writer was killed mid-transaction
 * only a read-write connection can roll the journal back (a read-only one fails).
 */
export function withDatabase<T>(
  repo: string,
  work: (db: Database.Database) => T,
  options: { readonly?: boolean } = {},
): T {
  const file = databaseOf(repo);
  const db = new Database(file, {
    readonly: options.readonly === true && !existsSync(`${file}-journal`),
    fileMustExist: true,
  });
  try {
    db.pragma("busy_timeout = 10000");
    return work(db);
  } finally {
    db.close();
  }
}

/** Every blob row of `kind` (all kinds when omitted), ordered by id. */
export function blobRows(repo: string, kind?: number): BlobRow[] {
  return withDatabase(
    repo,
    (db) =>
      (kind === undefined
        ? db
            .prepare("SELECT id, kind, length, data_id FROM blobs ORDER BY id")
            .all()
        : db
            .prepare(
              "SELECT id, kind, length, data_id FROM blobs WHERE kind = ? ORDER BY id",
            )
            .all(kind)) as BlobRow[],
    { readonly: true },
  );
}

/** How many blobs the repository holds (a cheap query, for polling). */
export function storedBlobCount(repo: string): number {
  return withDatabase(
    repo,
    (db) => db.prepare("SELECT count(*) FROM blobs").pluck().get() as number,
    { readonly: true },
  );
}

export function readStored(repo: string, id: Uint8Array): Buffer {
  return withDatabase(
    repo,
    (db) => {
      const data = db
        .prepare(
          "SELECT d.data FROM blobs b JOIN blob_data d ON d.rowid = b.data_id WHERE b.id = ?",
        )
        .pluck()
        .get(id) as Buffer | undefined;
      if (data === undefined) throw new Error("no such blob row");
      return data;
    },
    { readonly: true },
  );
}

/**
 * Replaces the stored bytes of blob `id`, and its recorded length, as a server that rewrites
 * rows would. The recorded SHA-256 is left alone: the client never reads it.
 */
export function writeStored(
  repo: string,
  id: Uint8Array,
  bytes: Uint8Array,
): void {
  withDatabase(repo, (db) => {
    db.transaction(() => {
      const dataId = db
        .prepare("SELECT data_id FROM blobs WHERE id = ?")
        .pluck()
        .get(id) as number | undefined;
      if (dataId === undefined) throw new Error("no such blob row");
      db.prepare("UPDATE blob_data SET data = ? WHERE rowid = ?").run(
        bytes,
        dataId,
      );
      db.prepare("UPDATE blobs SET length = ? WHERE id = ?").run(
        bytes.length,
        id,
      );
    })();
  });
}

/** Flips the lowest bit of the middle byte of blob `id`'s stored bytes (its length stays). */
export function flipStoredByte(repo: string, id: Uint8Array): void {
  const data = readStored(repo, id);
  const middle = data.length >> 1;
  data[middle] = (data[middle] ?? 0) ^ 0x01;
  writeStored(repo, id, data);
}

/** Deletes blob rows and their bytes, as a server that lost or dropped them. */
export function deleteBlobRows(repo: string, ids: readonly Uint8Array[]): void {
  withDatabase(repo, (db) => {
    db.transaction(() => {
      for (const id of ids) {
        const dataId = db
          .prepare("DELETE FROM blobs WHERE id = ? RETURNING data_id")
          .pluck()
          .get(id) as number | undefined;
        if (dataId === undefined) throw new Error("no such blob row");
        db.prepare("DELETE FROM blob_data WHERE rowid = ?").run(dataId);
      }
    })();
  });
}

/** The key slots as stored, in name order. */
export function storedKeySlots(
  repo: string,
): { name: string; bytes: Buffer }[] {
  return withDatabase(
    repo,
    (db) =>
      db.prepare("SELECT name, bytes FROM key_slots ORDER BY name").all() as {
        name: string;
        bytes: Buffer;
      }[],
    { readonly: true },
  );
}

export interface StoredHeader {
  /** Hex of the 32-byte blob id. */
  readonly id: string;
  /** Hex of the 24-byte session id (header bytes 8..32). */
  readonly session: string;
  /** The 64-bit counter (header bytes 32..40). */
  readonly counter: bigint;
}

/** The session id and counter of every blob stored in the repository directory `repo`. */
export function storedHeaders(repo: string): StoredHeader[] {
  const rows = withDatabase(
    repo,
    (db) =>
      db
        .prepare(
          "SELECT b.id AS id, substr(d.data, 1, 40) AS head FROM blobs b JOIN blob_data d ON d.rowid = b.data_id",
        )
        .all() as { id: Buffer; head: Buffer }[],
    { readonly: true },
  );
  return rows.map((row) => {
    if (row.head.length !== 40 || row.head.toString("latin1", 0, 4) !== "BSBL")
      throw new Error(`blob ${row.id.toString("hex")} has no blob header`);
    return {
      id: row.id.toString("hex"),
      session: row.head.subarray(8, 32).toString("hex"),
      counter: row.head.readBigUInt64BE(32),
    };
  });
}

/** Copies a repository directory (the database file alone: rollback mode keeps it complete). */
export async function copyRepository(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  copyFileSync(databaseOf(from), databaseOf(to));
}
