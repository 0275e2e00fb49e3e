/**
 * A repository reached through a stand-in for ssh that holds the client's upload to a fixed
 * rate (test/helpers/slow-ssh.js runs `serve` on this machine). A backup through it runs for a
 * known time whatever the machine's speed, so a test can act beside it or kill it mid-upload
 * without racing a fast CI machine.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { CLI, PROJECT_ROOT } from "./cli.js";

export interface ThrottledRepository {
  /** The location to pass to the CLI: `throttled:DIR`, a remote location named by host. */
  readonly location: string;
  /** What the CLI's environment needs so that "ssh" to it is the throttled stand-in. */
  readonly env: Record<string, string>;
}

/** The repository in `dir` with uploads held to `bytesPerSecond`. */
export function throttledRepository(
  dir: string,
  bytesPerSecond: number,
): ThrottledRepository {
  return {
    location: `throttled:${dir}`,
    env: {
      BLINDSYNC_SSH: `${process.execPath} ${join(PROJECT_ROOT, "test/helpers/slow-ssh.js")} ${bytesPerSecond}`,
      BLINDSYNC_REMOTE_CMD: `${process.execPath} ${CLI}`,
    },
  };
}

/** Whether some process holds the write lock of the SQLite database `file` right now. */
export function writeLocked(file: string): boolean {
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma("busy_timeout = 0");
    db.exec("BEGIN IMMEDIATE");
    db.exec("ROLLBACK");
    return false;
  } catch (error) {
    // SQLITE_BUSY, or an extended code of it (SQLITE_BUSY_RECOVERY while a WAL is recovered).
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("SQLITE_BUSY")) return true;
    throw error;
  } finally {
    db.close();
  }
}
