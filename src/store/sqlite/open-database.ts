/**
 * Opening a repository's database: the file claimed (db-file.ts), SQLite's connection opened,
 * the schema made on create, and what is found checked (our application id, the schema
 * version, a file as long as its header says) before any Store call may run on it.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { BlindsyncError } from "../../errors.js";
import { checkSameDatabaseFile, claimDatabaseFile } from "./db-file.js";
import { damagedError, noRepositoryError, translateError } from "./errors.js";
import {
  APPLICATION_ID,
  CACHE_SIZE_KIB,
  CREATE_SCHEMA,
  DATABASE_FILE,
  PAGE_SIZE,
  SCHEMA_VERSION,
  SCHEMA_VERSION_KEY,
  enforceAppendOnly,
} from "./schema.js";

export interface OpenDatabaseOptions {
  readonly create: boolean;
  readonly readonly: boolean;
  readonly appendOnly: boolean;
}

/** How long a writer waits for another process's transaction before giving up with 'locked'. */
const BUSY_TIMEOUT_MS = 10_000;

/**
 * Opens the database of the repository in `dir`. Without `create`, a missing directory or
 * database throws 'no-repository' and nothing is created on disk. A file that is not an intact
 * SQLite database throws 'integrity'.
 */
export function openDatabase(
  dir: string,
  { create, readonly, appendOnly }: OpenDatabaseOptions,
): { file: string; db: Database.Database } {
  const file = join(dir, DATABASE_FILE);
  // Owner-only modes, and never a symlinked database: db-file.ts says why.
  const identity = claimDatabaseFile(dir, file, create);
  if (identity === undefined) throw noRepositoryError(dir);

  let db: Database.Database;
  try {
    // fileMustExist also closes the race with a concurrent delete after the check above.
    db = new Database(file, {
      readonly,
      fileMustExist: true,
      timeout: BUSY_TIMEOUT_MS,
    });
  } catch (error) {
    throw translateError(error, file);
  }
  try {
    checkSameDatabaseFile(file, identity);
    prepareDatabase(db, dir, file, { create, readonly });
    if (appendOnly) enforceAppendOnly(db);
  } catch (error) {
    db.close();
    throw translateError(error, file);
  }
  return { file, db };
}

function prepareDatabase(
  db: Database.Database,
  dir: string,
  file: string,
  { create, readonly }: { create: boolean; readonly: boolean },
): void {
  if (!readonly) {
    // page_size takes effect only before the first table exists; later it is a harmless no-op.
    db.pragma(`page_size = ${PAGE_SIZE}`);
  }
  // Reading the schema is the first access to the file: SQLITE_NOTADB for garbage surfaces
  // here, and a hot journal left by a crash is rolled back here.
  const tables = db
    .prepare("SELECT count(*) FROM sqlite_schema")
    .pluck()
    .get() as number;
  if (tables === 0) {
    if (!create) throw noRepositoryError(dir);
    db.transaction(() => {
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.exec(CREATE_SCHEMA);
      db.prepare("INSERT INTO config (key, value) VALUES (?, ?)").run(
        SCHEMA_VERSION_KEY,
        SCHEMA_VERSION,
      );
    }).immediate();
  }
  const applicationId = db.pragma("application_id", { simple: true }) as number;
  if (applicationId !== APPLICATION_ID) {
    throw new BlindsyncError(
      "no-repository",
      `"${file}" is a SQLite database but not a blindsync repository`,
    );
  }
  const version = db
    .prepare("SELECT value FROM config WHERE key = ?")
    .pluck()
    .get(SCHEMA_VERSION_KEY);
  if (version !== SCHEMA_VERSION) {
    throw new BlindsyncError(
      "failed",
      `The repository "${file}" has database schema version ${String(version)}, and this blindsync reads only version ${SCHEMA_VERSION}`,
      { hint: "Use the blindsync version that wrote it, or a newer one" },
    );
  }
  const truncated = checkFileSize(db, file);
  if (truncated !== undefined) throw damagedError(file, truncated);
  if (!readonly) {
    db.pragma("journal_mode = DELETE");
    db.pragma("synchronous = FULL");
  }
  db.pragma(`cache_size = ${-CACHE_SIZE_KIB}`);
}

/**
 * A database file shorter than its header's page count has lost its tail (a truncated copy);
 * SQLite would only notice when a query reaches a missing page. Exact in rollback-journal mode,
 * where the main file always holds every committed page.
 */
export function checkFileSize(
  db: Database.Database,
  file: string,
): string | undefined {
  const pageCount = db.pragma("page_count", { simple: true }) as number;
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  const expected = pageCount * pageSize;
  const actual = statSync(file).size;
  return actual < expected
    ? `the file is ${actual} bytes, but its header promises ${expected}`
    : undefined;
}
