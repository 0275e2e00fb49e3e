/**
 * The on-disk format of a local repository: one SQLite database, `<dir>/blindsync.sqlite`.
 * docs/storage.md describes it byte by byte and gives the measurements behind every setting;
 * a change here is a change of the repository format.
 */

import type { Database } from "better-sqlite3";
import type { BlobKind } from "../store.js";

export const DATABASE_FILE = "blindsync.sqlite";

/** "bsnc" in the SQLite header (offset 68), so `file(1)` and we can tell our databases apart. */
export const APPLICATION_ID = 0x62736e63;

/** Version of the tables below, kept in `config` under SCHEMA_VERSION_KEY. */
export const SCHEMA_VERSION = 1;
export const SCHEMA_VERSION_KEY = "schema_version";
/** The opaque config record of the Store contract. */
export const REPOSITORY_CONFIG_KEY = "repository";
/** Config key of the prune generation (absent means 0). */
export const GENERATION_KEY = "generation";

/** 64 KiB pages: 1 MiB blobs stored ~2.6x faster than with 4 KiB pages (docs/storage.md). */
export const PAGE_SIZE = 65536;

/**
 * In KiB (negative means KiB to SQLite). The `blobs` b-tree is about 82 bytes per blob (25 MiB
 * at 300,000 blobs), and a batch's inserts land all over it, so a cache below it spills dirty
 * pages in mid-transaction: 16 MiB cost a 300,000-file first backup about 12 s more CPU than
 * 32 MiB. A local repository's client holds this cache too, so it is the first thing past its
 * memory target: once the database outgrows it, 64 MiB holds 32 MiB more at the peak
 * (docs/performance.md, "Memory with many files"; docs/storage.md).
 */
export const CACHE_SIZE_KIB = 32768;

/**
 * Blob metadata is kept apart from blob bytes: `blobs` stays a dense b-tree of ~90-byte rows, so
 * `missing` and `list` never touch a page of ciphertext, and `blob_data` is a rowid table whose
 * 1 MiB values sit in overflow pages, written once and never moved by a b-tree split.
 */
export const CREATE_SCHEMA = `
CREATE TABLE config (
  key TEXT PRIMARY KEY NOT NULL,
  value ANY NOT NULL
) STRICT;

CREATE TABLE key_slots (
  name TEXT PRIMARY KEY NOT NULL,
  bytes BLOB NOT NULL
) STRICT;

CREATE TABLE blobs (
  id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 32),
  kind INTEGER NOT NULL CHECK (kind IN (0, 1, 2)),
  length INTEGER NOT NULL CHECK (length >= 0),
  sha256 BLOB NOT NULL CHECK (length(sha256) = 32),
  data_id INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE blob_data (
  rowid INTEGER PRIMARY KEY,
  data BLOB NOT NULL
) STRICT;
`;

const kindCodes: Readonly<Record<BlobKind, number>> = {
  data: 0,
  tree: 1,
  snapshot: 2,
};
const kindsByCode: readonly BlobKind[] = ["data", "tree", "snapshot"];

export function kindCode(kind: BlobKind): number {
  return kindCodes[kind];
}

export function kindFromCode(code: number): BlobKind {
  const kind = kindsByCode[code];
  if (kind === undefined)
    throw new RangeError(`Unknown blob kind code ${code}`);
  return kind;
}

/** Message of the RAISE in the append-only triggers, recognised when mapping errors. */
export const APPEND_ONLY_MESSAGE = "blindsync: the repository is append-only";

const protectedTables = ["config", "key_slots", "blobs", "blob_data"] as const;

/**
 * Makes this connection refuse every DELETE and UPDATE of stored data, in SQLite itself, so that
 * no code path of an append-only server can destroy history, whatever bug it has. TEMP triggers
 * live only in this connection: the same repository opened by a pruning key stays writable.
 * recursive_triggers makes INSERT OR REPLACE fire the DELETE triggers too.
 */
export function enforceAppendOnly(db: Database): void {
  db.pragma("recursive_triggers = ON");
  for (const table of protectedTables) {
    for (const event of ["DELETE", "UPDATE"] as const) {
      db.exec(
        `CREATE TEMP TRIGGER IF NOT EXISTS append_only_${event.toLowerCase()}_${table}
         BEFORE ${event} ON main.${table}
         BEGIN SELECT RAISE(ABORT, '${APPEND_ONLY_MESSAGE}'); END`,
      );
    }
  }
}
