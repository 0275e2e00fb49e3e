/** SQLite's own structural check of a repository database, for crash tests and `check`. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describeError } from "../../errors.js";
import { oneLine } from "./errors.js";
import { checkFileSize } from "./open-database.js";
import { DATABASE_FILE } from "./schema.js";

/**
 * Runs SQLite's own structural check of the repository in `dir` (every page and index): 'ok',
 * or one line naming the problems. Reads the whole database.
 *
 * A process killed in the middle of a write leaves a hot journal, which only a read-write
 * connection can roll back (a read-only one fails with "attempt to write a readonly
 * database"). When a journal is present the check therefore opens the database read-write, so
 * SQLite rolls the interrupted transaction back first, exactly as the next open would.
 */
export function sqliteIntegrityCheck(dir: string): string {
  const file = join(dir, DATABASE_FILE);
  if (!existsSync(file)) return `No database at "${file}"`;
  try {
    const journal = existsSync(`${file}-journal`);
    const db = new Database(file, { readonly: !journal, fileMustExist: true });
    try {
      const problems = db.pragma("integrity_check", { simple: false }) as {
        integrity_check: string;
      }[];
      const lines = problems.map((row) => row.integrity_check);
      const size = checkFileSize(db, file);
      if (size !== undefined) lines.push(size);
      return lines.length === 1 && lines[0] === "ok"
        ? "ok"
        : lines.filter((line) => line !== "ok").join("; ");
    } finally {
      db.close();
    }
  } catch (error) {
    return oneLine(describeError(error));
  }
}
