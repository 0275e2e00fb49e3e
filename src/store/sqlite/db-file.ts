/**
 * The repository's directory and database file on disk, before and after SQLite opens them.
 *
 * Owner-only: a new repository directory is made 0700 and a new database 0600, whatever the
 * umask (as restic and borg do); SQLite gives its -journal, -wal and -shm files the mode of the
 * database, so they are owner-only too.
 *
 * The file itself: SQLite resolves a symlinked database name before opening it, so a
 * `blindsync.sqlite` that links out of `serve --restrict-to-path` would be followed, and a
 * dangling one would create a file wherever it points. The database is therefore opened here
 * first with O_NOFOLLOW (and created with O_EXCL|O_NOFOLLOW), which refuses any symlink, and
 * after SQLite has opened the same name the file there must still be the one checked. A swap
 * of the name in the moment between the two opens is not caught: better-sqlite3 offers no way
 * to pass SQLITE_OPEN_NOFOLLOW.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
} from "node:fs";
import { dirname } from "node:path";
import { BlindsyncError, describeError } from "../../errors.js";

/** The identity of the checked database file, to compare with what SQLite opened. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

const DIRECTORY_MODE = 0o700;
const DATABASE_MODE = 0o600;

/**
 * Makes `dir` (and any missing parents) owner-only when `create`, then checks, and when
 * `create` makes, the database `file` without following a symlink. Answers undefined when there
 * is no database and `create` is false (the caller reports no repository).
 */
export function claimDatabaseFile(
  dir: string,
  file: string,
  create: boolean,
): FileIdentity | undefined {
  if (create) makeOwnerOnlyDirectory(dir);
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted under the name must not hang the open.
    fd = openSync(
      file,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
  } catch (error) {
    const code = errorCode(error);
    if (code === "ELOOP") throw notRegularFileError(file);
    if (code !== "ENOENT" && code !== "ENOTDIR") throw openError(file, error);
    if (!create) return undefined;
    fd = createDatabaseFile(file);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw notRegularFileError(file);
    return { dev: stats.dev, ino: stats.ino };
  } finally {
    closeSync(fd);
  }
}

/** Throws unless `file` is still the regular file `identity` names (SQLite opened it by name). */
export function checkSameDatabaseFile(
  file: string,
  identity: FileIdentity,
): void {
  let same = false;
  try {
    const stats = lstatSync(file);
    same =
      stats.isFile() &&
      stats.dev === identity.dev &&
      stats.ino === identity.ino;
  } catch {
    // Gone: not the file that was checked.
  }
  if (!same) throw notRegularFileError(file);
}

function createDatabaseFile(file: string): number {
  let fd: number;
  try {
    fd = openSync(
      file,
      constants.O_RDWR |
        constants.O_CREAT |
        constants.O_EXCL |
        constants.O_NOFOLLOW,
      DATABASE_MODE,
    );
  } catch (error) {
    // EEXIST: a dangling symlink (O_EXCL never follows one), or a racing creator.
    if (errorCode(error) === "EEXIST") throw notRegularFileError(file);
    throw openError(file, error);
  }
  // The umask may have taken bits away; set exactly the mode meant.
  fchmodSync(fd, DATABASE_MODE);
  return fd;
}

/** mkdir -p with 0700 for every directory it makes, whatever the umask; existing ones are kept. */
function makeOwnerOnlyDirectory(dir: string): void {
  let first: string | undefined;
  try {
    first = mkdirSync(dir, { recursive: true, mode: DIRECTORY_MODE });
  } catch (error) {
    throw new BlindsyncError(
      "failed",
      `Cannot create the repository directory "${dir}": ${describeError(error)}`,
      { cause: error },
    );
  }
  if (first === undefined) return;
  for (let made = dir; ; made = dirname(made)) {
    chmodSync(made, DIRECTORY_MODE);
    if (made === first || dirname(made) === made) return;
  }
}

function notRegularFileError(file: string): BlindsyncError {
  return new BlindsyncError(
    "failed",
    `The repository database "${file}" is a symbolic link or not a regular file: blindsync opens only the file itself`,
    {
      hint: "Keep the database itself in the repository directory (move the file there instead of linking to it)",
    },
  );
}

function openError(file: string, error: unknown): BlindsyncError {
  return new BlindsyncError(
    "failed",
    `Cannot open the repository database "${file}": ${describeError(error)}`,
    { cause: error },
  );
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}
