/**
 * Where a repository location's client files live, and how they are created: owner-only.
 * The cache holds file paths, sizes and times of everything backed up, and the pin decides
 * whether a rollback is noticed; neither is anyone else's business (restic and borg keep
 * their caches 0700 too).
 */
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { BlindsyncError, describeError } from "../../errors.js";

/**
 * The cache directory tag (https://bford.info/cachedir/): tar --exclude-caches, restic and
 * borg --exclude-caches, and blindsync's own skip a directory holding this file, so a backup
 * of the home directory does not carry the cache (file names and sizes of everything backed
 * up) along. The first line is the standard's exact signature.
 */
export const CACHEDIR_TAG_NAME = "CACHEDIR.TAG";
export const CACHEDIR_TAG_SIGNATURE =
  "Signature: 8a477f597d28d172789f06886806bc55";
const CACHEDIR_TAG = `${CACHEDIR_TAG_SIGNATURE}
# This file is a cache directory tag created by blindsync.
# For information about cache directory tags, see:
#	https://bford.info/cachedir/
`;

/** Tags the cache root once; a tag that is there already (ours or another's) is left alone. */
function tagCacheRoot(cacheRoot: string): void {
  const file = join(cacheRoot, CACHEDIR_TAG_NAME);
  if (existsSync(file)) return;
  try {
    writeFileSync(file, CACHEDIR_TAG, { flag: "wx", mode: 0o644 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}

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
  const file = join(dir, name);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    tagCacheRoot(cacheRoot);
    closeSync(openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600));
    chmodSync(file, 0o600);
    for (const suffix of SIDE_FILES) chmodIfPresent(file + suffix, 0o600);
  } catch (error) {
    throw new BlindsyncError(
      "failed",
      `Cannot create the client cache in "${cacheRoot}": ${describeError(error)}`,
      {
        cause: error,
        hint: "Choose another place with --cache-dir or BLINDSYNC_CACHE_DIR",
      },
    );
  }
  return file;
}

/** The pack store's merged index of this location (store/packs), a file made owner-only. */
export function packIndexFile(cacheRoot: string, locationKey: string): string {
  return prepareDatabaseFile(cacheRoot, locationKey, "pack-index.sqlite");
}
