/**
 * The file system steps of the directory object store (dir-object-store.ts): reading a range
 * exactly, making the root owner-only, fsyncing a folder, and the errors a directory gives,
 * each worded on one line with the path.
 */
import type { Stats } from "node:fs";
import { chmod, constants, lstat, mkdir, open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { resolve } from "node:path";
import { BlindsyncError, describeError } from "../../errors.js";

export const FOLDER_MODE = 0o700;
export const FILE_MODE = 0o600;

/** Reads `length` bytes at `offset`, looping over short reads; `short()` if the file ends first. */
export async function readExactly(
  handle: FileHandle,
  offset: number,
  length: number,
  short: () => Error,
): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(
      buffer,
      done,
      length - done,
      offset + done,
    );
    if (bytesRead === 0) throw short();
    done += bytesRead;
  }
  return buffer;
}

/**
 * Most buffers one writev is given: Linux's IOV_MAX. libuv splits longer lists itself, but a
 * short write must be resumed at the right part, which is simpler over a bounded list.
 */
const WRITEV_PARTS = 1024;

/**
 * Writes `parts` one after the other at the file's position, looping over short writes, without
 * joining them into one buffer (a pack's blobs: an 8 MiB copy per pack saved).
 */
export async function writeParts(
  handle: FileHandle,
  parts: readonly Uint8Array[],
): Promise<void> {
  const pending = parts.filter((part) => part.length > 0);
  let next = 0;
  while (next < pending.length) {
    const group = pending.slice(next, next + WRITEV_PARTS);
    let { bytesWritten } = await handle.writev(group);
    if (bytesWritten === 0) throw new Error("writev wrote nothing");
    // Move past what was written: whole parts, then into the one a short write cut.
    for (const part of group) {
      if (bytesWritten >= part.length) {
        bytesWritten -= part.length;
        next += 1;
      } else {
        pending[next] = part.subarray(bytesWritten);
        break;
      }
    }
  }
}

export async function makeRoot(root: string): Promise<void> {
  try {
    const first = await mkdir(root, { recursive: true, mode: FOLDER_MODE });
    if (first === undefined) return;
    // The umask may have taken bits away from every folder mkdir made; set exactly 0700.
    for (let made = root; ; made = resolve(made, "..")) {
      await chmod(made, FOLDER_MODE);
      if (made === first) return;
    }
  } catch (error) {
    throw fsError(`create the pack directory "${root}"`, error);
  }
}

/**
 * fsync of a folder makes the names in it durable. Some file systems (network and FUSE ones)
 * refuse it with EINVAL or ENOTSUP, having nothing to flush that way; that is no failure.
 */
export async function syncFolder(folder: string): Promise<void> {
  try {
    const handle = await open(folder, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = codeOf(error);
    if (code === "EINVAL" || code === "ENOTSUP") return;
    throw fsError(`sync the folder "${folder}"`, error);
  }
}

export async function lstatOrUndefined(
  path: string,
  what: string,
): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw fsError(`${what} at "${path}"`, error);
  }
}

export function isMissing(error: unknown): boolean {
  const code = codeOf(error);
  return code === "ENOENT" || code === "ENOTDIR";
}

export function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

export function fsError(what: string, error: unknown): BlindsyncError {
  if (error instanceof BlindsyncError) return error;
  return new BlindsyncError(
    "failed",
    `Cannot ${what}: ${describeError(error).replace(/\s*\n\s*/g, " ")}`,
    { cause: error },
  );
}

export function linkError(path: string): BlindsyncError {
  return new BlindsyncError(
    "integrity",
    `"${path}" is a symbolic link; a pack directory holds only plain files and folders`,
    {
      hint: "Something other than blindsync changed the directory: replace the link with what it points at",
    },
  );
}

export function notFileError(path: string): BlindsyncError {
  return new BlindsyncError(
    "integrity",
    `"${path}" is not a regular file; a pack directory holds only plain files and folders`,
  );
}

export function shortError(
  where: string,
  name: string,
  path: string,
): BlindsyncError {
  return new BlindsyncError(
    "integrity",
    `Object ${name} in ${where} ("${path}") ended before its size said it would`,
  );
}
