/**
 * The restore target: created and resolved once, then the root every written path must stay
 * under, the way paths are shown to the user, and the temporary names files are written to.
 */
import { randomBytes } from "node:crypto";
import { constants as fsConstants, promises as fsp } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { BlindsyncError, describeError } from "../../errors.js";
import { displayBytes, isInside, joinPath } from "../fs-names.js";

/** Creates the target (mkdir -p) and returns its real path; every failure here is fatal. */
export async function prepareTarget(target: string): Promise<Buffer> {
  const absolute = resolvePath(target);
  try {
    await fsp.mkdir(absolute, { recursive: true });
    // The target is the user's choice, so a symlink naming it is followed, once, here.
    const real = await fsp.realpath(absolute);
    const stats = await fsp.lstat(real);
    if (!stats.isDirectory()) throw new Error("it is not a directory");
    await fsp.access(real, fsConstants.W_OK | fsConstants.X_OK);
    return Buffer.from(real);
  } catch (error) {
    throw new BlindsyncError(
      "failed",
      `Cannot restore into "${absolute}": ${describeError(error)}`,
      {
        cause: error,
      },
    );
  }
}

export class Target {
  private readonly tempPrefix = randomBytes(8).toString("hex");
  private tempCount = 0;

  /** `root`: the target's real path, as prepareTarget() returns it. */
  constructor(readonly root: Buffer) {}

  /** The path as the user knows it: relative to the target, escaped for display. */
  show(path: Buffer): string {
    if (path.equals(this.root)) return ".";
    return displayBytes(path.subarray(this.root.length + 1));
  }

  assertInside(path: Buffer): void {
    // Every path is built from the target and checked single names, so this cannot fire; it is
    // the last line of defence for the operations that delete or replace.
    if (!isInside(this.root, path) || path.equals(this.root)) {
      throw new Error(
        `Internal error: "${displayBytes(path)}" is outside the restore target`,
      );
    }
  }

  /** A fresh name in `dir`: unguessable prefix per restore, a counter per file. */
  tempPath(dir: Buffer): Buffer {
    return joinPath(
      dir,
      Buffer.from(`.blindsync-${this.tempPrefix}-${this.tempCount++}.tmp`),
    );
  }
}
