/**
 * Where a repository location's client files live, and how they are created: owner-only.
 * The cache holds file paths, sizes and times of everything backed up, and the pin decides
 * whether a rollback is noticed; neither is anyone else's business (restic and borg keep
 * their caches 0700 too).
 */
import { createHash } from "node:crypto";
import { chmodSync, closeSync, constants, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";

/** The directory of one location's client files: a hash of the location key, so any key fits. */
export function locationDir(cacheRoot: string, locationKey: string): string {
  const name = createHash("sha256")
    .update(locationKey)
    .digest("hex")
    .slice(0, 32);
  return join(cacheRoot, name);
}

/** Suffixes of the files SQLite keeps beside a database. */
const SIDE_FILES = ["-wal", "-shm", "-journal"];

function chmodIfPresent(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

/**
 * Makes the location's directory (and any missing parent, 0700) and the SQLite file `name` in
 * it, owner-only, before SQLite opens it: SQLite creates a database with 0644 less the umask,
 * and gives its -wal, -shm and -journal files the database's own mode, so a database made
 * 0600 first keeps all of them private. Files from an older version (0644) are narrowed too.
 */
export function prepareDatabaseFile(
  cacheRoot: string,
  locationKey: string,
  name: string,
): string {
  const dir = locationDir(cacheRoot, locationKey);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = join(dir, name);
  closeSync(openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600));
  chmodSync(file, 0o600);
  for (const suffix of SIDE_FILES) chmodIfPresent(file + suffix, 0o600);
  return file;
}

/** The pack store's merged index of this location (store/packs), a file made owner-only. */
export function packIndexFile(cacheRoot: string, locationKey: string): string {
  return prepareDatabaseFile(cacheRoot, locationKey, "pack-index.sqlite");
}
