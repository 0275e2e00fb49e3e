/**
 * The last steps of every restored file on its temporary name, whichever way it was written
 * (file-writer.ts, or small-file.ts without the addon's batches): synced when asked, its owner,
 * mode and times set, closed, then renamed onto its real name.
 */
import { closeSync, fchmodSync, fchownSync, fsyncSync } from "node:fs";
import { MODE_MASK, type FileEntry } from "../../repo/index.js";
import type { Deletion } from "./deletion.js";
import { closeQuietly } from "./fs-ops.js";
import { setTimes } from "./times.js";

export interface FinishSteps {
  readonly fsync: boolean;
  /** Only root may, and must where the new file's owner differs from the entry's. */
  readonly chown: boolean;
  /** False when the file was created with its final mode already (the umask kept it). */
  readonly chmod: boolean;
}

/**
 * Finishes the temporary file open at `fd` and renames it onto `path`. Always closes `fd`;
 * on failure throws and leaves the temporary name for the caller to remove.
 */
export function finishTemporary(
  fd: number,
  temp: Buffer,
  path: Buffer,
  entry: FileEntry,
  steps: FinishSteps,
  deletion: Deletion,
): void {
  try {
    if (steps.fsync) fsyncSync(fd);
    // chown before chmod: chown clears the setuid and setgid bits.
    if (steps.chown) fchownSync(fd, entry.uid, entry.gid);
    if (steps.chmod) fchmodSync(fd, entry.mode & MODE_MASK);
    setTimes(temp, entry.mtimeNs, fd);
  } catch (error) {
    closeQuietly(fd);
    throw error;
  }
  closeSync(fd);
  deletion.replace(temp, path);
}
