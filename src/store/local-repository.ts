/**
 * What a local repository location holds on disk, for the layers above that must recognise one
 * without opening it (the short forms ask whether a path is a repository) or keep it out of a
 * restore's reach (restore never deletes or overwrites these paths).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DATABASE_FILE } from "./sqlite/schema.js";

/**
 * SQLite's companions of a database file: the rollback journal, and the write-ahead log and its
 * shared-memory index should the journal mode ever change. Losing one mid-transaction loses data.
 */
const DATABASE_SIDE_FILES = ["-journal", "-wal", "-shm"] as const;

/** The files that make up the local repository in `dir`: the database first, then its siblings. */
export function localRepositoryFiles(dir: string): string[] {
  const database = join(dir, DATABASE_FILE);
  return [database, ...DATABASE_SIDE_FILES.map((suffix) => database + suffix)];
}

/** True when directory `dir` holds a local SQLite repository (its database file exists). */
export function holdsSqliteRepository(dir: string): boolean {
  return existsSync(join(dir, DATABASE_FILE));
}

/**
 * True when directory `dir` holds a pack repository (`init --packs`): its config object and its
 * key slots' folder (store/packs' layout), and no database.
 */
export function holdsPackRepository(dir: string): boolean {
  return (
    !holdsSqliteRepository(dir) &&
    existsSync(join(dir, "config")) &&
    existsSync(join(dir, "keys"))
  );
}

/** True when directory `dir` holds a local repository of either kind. */
export function holdsLocalRepository(dir: string): boolean {
  return holdsSqliteRepository(dir) || holdsPackRepository(dir);
}
