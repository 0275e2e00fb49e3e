/**
 * Named pipes, restored as restic restores them: created anew with mkfifo at a temporary name
 * beside their place, given owner (as root), mode and mtime, then renamed into place like a
 * file. Never opened: an open would wait for the other end.
 */
import { chmodSync, lchownSync } from "node:fs";
import { describeError } from "../../errors.js";
import { MODE_MASK, type FifoEntry } from "../../repo/index.js";
import { makeFifoSync } from "../../util/make-fifo.js";
import { parentPath } from "../fs-names.js";
import type { Deletion } from "./deletion.js";
import { currentOwner, unlinkQuietly } from "./fs-ops.js";
import type { Tally } from "./tally.js";
import type { Target } from "./target.js";
import { setTimes } from "./times.js";

export interface FifoParts {
  readonly target: Target;
  readonly tally: Tally;
  readonly deletion: Deletion;
}

/** Creates the fifo `entry` at `path`; a failure is counted and warned, never thrown. */
export function restoreFifo(
  path: Buffer,
  entry: FifoEntry,
  parts: FifoParts,
): void {
  const temp = parts.target.tempPath(parentPath(path));
  try {
    // 0600 until the owner is set: the stored mode applies only once the right owner holds it.
    makeFifoSync(temp, 0o600);
    // chown before chmod: chown clears the setuid and setgid bits.
    if (currentOwner().isRoot) lchownSync(temp, entry.uid, entry.gid);
    chmodSync(temp, entry.mode & MODE_MASK);
    setTimes(temp, entry.mtimeNs);
    parts.deletion.replace(temp, path);
    // Counted with the files: restore's summary has no line of its own for special files.
    parts.tally.result.files++;
  } catch (error) {
    unlinkQuietly(temp);
    parts.tally.fail(
      `Cannot restore fifo "${parts.target.show(path)}": ${describeError(error)}`,
      error,
    );
  }
}
