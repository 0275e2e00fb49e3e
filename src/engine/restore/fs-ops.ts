/** Small file-system helpers shared by the restore modules; byte paths throughout. */
import {
  closeSync,
  lstatSync,
  readFileSync,
  unlinkSync,
  type BigIntStats,
} from "node:fs";

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
    umask: readUmask(),
  };
}

/**
 * The umask, read from /proc (Linux) rather than with process.umask(), which reads it by
 * setting it twice: a file another thread creates in between would get the wrong mode. Where
 * it cannot be read, every bit counts as masked, so that every file is created 0600 and gets
 * its mode from fchmod, as before.
 */
function readUmask(): number {
  try {
    const match = /^Umask:\s*([0-7]+)$/m.exec(
      readFileSync("/proc/self/status", "latin1"),
    );
    return match?.[1] === undefined ? 0o777 : parseInt(match[1], 8);
  } catch {
    return 0o777;
  }
}
