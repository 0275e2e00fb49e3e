/** Small file-system helpers shared by the restore modules; byte paths throughout. */
import { closeSync, lstatSync, unlinkSync, type BigIntStats } from "node:fs";

/** Linux's setgid bit on a directory: new entries inherit its group (and subdirectories the bit). */
export const S_ISGID = 0o2000;

export function errnoCode(error: unknown): string | undefined {
  if (
    error instanceof Error &&
    "code" in error &&
    typeof error.code === "string"
  ) {
    return error.code;
  }
  return undefined;
}

export function lstatOrUndefined(path: Buffer): BigIntStats | undefined {
  return lstatSync(path, { bigint: true, throwIfNoEntry: false });
}

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The last component of a byte path. */
export function lastName(path: Buffer): Buffer {
  return path.subarray(path.lastIndexOf(0x2f) + 1);
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Nothing useful to do: the descriptor is gone either way.
  }
}

export function unlinkQuietly(path: Buffer): void {
  try {
    unlinkSync(path);
  } catch {
    // Cleanup of a temporary name that may never have been created.
  }
}

/** Who this process is, for deciding whether a restored entry needs its owner set. */
export interface Owner {
  /** Only root may give an entry another owner; others leave ownership as it falls. */
  readonly isRoot: boolean;
  readonly uid: number;
  readonly gid: number;
  /** The process's umask: mode bits that open() would drop from a new file's mode. */
  readonly umask: number;
}

export function currentOwner(): Owner {
  return {
    isRoot: process.getuid?.() === 0,
    uid: process.geteuid?.() ?? -1,
    gid: process.getegid?.() ?? -1,
    // Read without changing it; where it cannot be read (a worker thread), assume every bit,
    // so that every file is created 0600 and gets its mode from fchmod.
    umask: readUmask(),
  };
}

function readUmask(): number {
  try {
    return process.umask();
  } catch {
    return 0o777;
  }
}
