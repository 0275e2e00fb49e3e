/**
 * The SQLite store's errors: what an SQLite error code means to a user of the repository
 * (damage, another writer, the append-only triggers), worded on one line with a hint.
 */
import Database from "better-sqlite3";
import { BlindsyncError } from "../../errors.js";
import { appendOnlyError } from "../rules/index.js";
import { APPEND_ONLY_MESSAGE } from "./schema.js";

export function noRepositoryError(dir: string): BlindsyncError {
  return new BlindsyncError("no-repository", `No repository at "${dir}"`, {
    hint: `Create one with: blindsync init ${dir}`,
  });
}

export function damagedError(
  file: string,
  why: string,
  cause?: unknown,
): BlindsyncError {
  return new BlindsyncError(
    "integrity",
    `The repository database "${file}" is damaged: ${oneLine(why)}`,
    {
      hint: "Restore the repository directory from a copy, or salvage blobs with sqlite3's .recover",
      cause,
    },
  );
}

/** Turns an SQLite error into a BlindsyncError of the kind it means; other errors pass as they are. */
export function translateError(error: unknown, file: string): unknown {
  if (!(error instanceof Database.SqliteError)) return error;
  const code = error.code;
  if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") {
    return damagedError(file, error.message, error);
  }
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    return new BlindsyncError(
      "locked",
      `The repository database "${file}" is busy: ${oneLine(error.message)}`,
      {
        hint: "Another process is writing to it; try again later",
        cause: error,
      },
    );
  }
  if (error.message.includes(APPEND_ONLY_MESSAGE)) {
    return appendOnlyError("delete or overwrite stored data");
  }
  return new BlindsyncError(
    "failed",
    `The repository database "${file}" failed: ${oneLine(error.message)} (${code})`,
    { cause: error },
  );
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
}
