/**
 * One backup at a time per location and client cache. A backup holds the cache's write
 * transaction for its whole run, committing now and then (client-cache.ts, checkpointRun); a
 * second backup of the same location from this machine used to wait 5 s for it and fail with
 * SQLite's "database is locked", or slip in at a checkpoint and make the first one fail. So a
 * backup takes this lock before it connects, and holds it until its run is over: a second one
 * fails at once with who holds it (exit 11), or waits for it when asked to (borg's
 * `--lock-wait`; restic's `--retry-lock`).
 *
 * The lock is the write lock of a small SQLite file beside the cache (`backup.lock`), held
 * by an open transaction: the kernel drops it when its process dies, however it dies (SQLite
 * uses fcntl locks), so a backup killed with SIGKILL never locks the next one out and there is
 * no stale-lock guessing (a pid that is alive again may be another program's). Who holds it
 * is written to `backup.holder` once it is held, for the message only.
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { BlindsyncError } from "../../errors.js";
import { locationDir, prepareDatabaseFile } from "./location.js";

const LOCK_FILE = "backup.lock";
const HOLDER_FILE = "backup.holder";
/** How often a waiting backup tries again: a poll costs one failed lock call. */
const POLL_MS = 250;

/** What the holder wrote about itself. */
export interface BackupLockHolder {
  readonly pid: number;
  /** ISO 8601 UTC. */
  readonly startedAt: string;
}

export interface BackupLockOptions {
  /** The location as the user wrote it, for messages (default: the location key). */
  readonly location?: string;
  /** How long to wait for a running backup to finish; 0 (the default) fails at once. */
  readonly waitMs?: number;
  /** Called once, when this backup starts to wait, so that it never waits silently. */
  readonly onWait?: (holder: BackupLockHolder | undefined) => void;
}

export interface BackupLock {
  /** Lets the next backup in; idempotent. */
  release(): void;
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED";
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but another user's (a cache is one user's, so hardly ever).
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The holder as it recorded itself; undefined when it has not written the file yet, or when
 * the file names a dead process (left by a backup that was killed: the lock is someone else's).
 */
export function readBackupLockHolder(
  cacheRoot: string,
  locationKey: string,
): BackupLockHolder | undefined {
  try {
    const text = readFileSync(
      join(locationDir(cacheRoot, locationKey), HOLDER_FILE),
      "utf8",
    );
    const parsed = JSON.parse(text) as Partial<BackupLockHolder>;
    if (
      !Number.isSafeInteger(parsed.pid) ||
      typeof parsed.startedAt !== "string"
    )
      return undefined;
    const holder = { pid: parsed.pid as number, startedAt: parsed.startedAt };
    return isAlive(holder.pid) ? holder : undefined;
  } catch {
    return undefined;
  }
}

function describeHolder(holder: BackupLockHolder | undefined): string {
  return holder === undefined
    ? "another process"
    : `pid ${String(holder.pid)}, started ${holder.startedAt.replace(/\.\d+Z$/, "Z")}`;
}

function lockedError(
  location: string,
  holder: BackupLockHolder | undefined,
  waitedMs: number,
): BlindsyncError {
  const waited =
    waitedMs > 0 ? ` (waited ${String(Math.round(waitedMs / 1000))} s)` : "";
  return new BlindsyncError(
    "locked",
    `Another backup of "${location}" is running on this machine with the same cache (${describeHolder(holder)})${waited}`,
    {
      hint: "Backups of one location from one cache run one at a time. Let it finish, or wait for it: blindsync backup --lock-wait 30m ... (a backup that was killed holds nothing: its lock went with its process)",
    },
  );
}

/** Writes who holds the lock, whole or not at all (another backup may read it any time). */
function writeHolder(dir: string, holder: BackupLockHolder): void {
  const file = join(dir, HOLDER_FILE);
  const temporary = `${file}.${String(process.pid)}`;
  writeFileSync(temporary, JSON.stringify(holder), { mode: 0o600 });
  renameSync(temporary, file);
}

/**
 * Takes the backup lock of a location's cache, waiting up to `waitMs` for a running backup;
 * throws 'locked' (exit 11) naming the holder when it is still held then.
 */
export async function acquireBackupLock(
  cacheRoot: string,
  locationKey: string,
  options: BackupLockOptions = {},
): Promise<BackupLock> {
  const file = prepareDatabaseFile(cacheRoot, locationKey, LOCK_FILE);
  const db = new Database(file);
  const startedAt = Date.now();
  const waitMs = options.waitMs ?? 0;
  let told = false;
  try {
    // Never SQLite's busy wait: it would block the event loop for the whole wait.
    db.pragma("busy_timeout = 0");
    for (;;) {
      try {
        db.exec("BEGIN IMMEDIATE");
        break;
      } catch (error) {
        if (!isBusy(error)) throw error;
      }
      const holder = readBackupLockHolder(cacheRoot, locationKey);
      const waited = Date.now() - startedAt;
      if (waited >= waitMs)
        throw lockedError(options.location ?? locationKey, holder, waited);
      if (!told) options.onWait?.(holder);
      told = true;
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(POLL_MS, waitMs - waited)),
      );
    }
  } catch (error) {
    db.close();
    throw error;
  }
  const dir = locationDir(cacheRoot, locationKey);
  writeHolder(dir, {
    pid: process.pid,
    startedAt: new Date().toISOString(),
  });
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      // The record goes first, while the lock is still ours: afterwards it may be the next
      // holder's.
      try {
        unlinkSync(join(dir, HOLDER_FILE));
      } catch {
        // Already gone: nothing to tidy.
      }
      db.close();
    },
  };
}
