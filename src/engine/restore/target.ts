/**
 * The restore target: created and resolved once, then the root every written path must stay
 * under, the way paths are shown to the user, and the temporary names files are written to
 * (and those an interrupted restore left behind).
 */
import { randomBytes } from "node:crypto";
import {
  constants as fsConstants,
  promises as fsp,
  readdirSync,
  unlinkSync,
} from "node:fs";
import { resolve as resolvePath } from "node:path";
import { BlindsyncError, describeError } from "../../errors.js";
import { displayBytes, isInside, joinPath } from "../fs-names.js";
import { errnoCode, lstatOrUndefined } from "./fs-ops.js";

/**
 * blindsync's temporary names (tempPath() below): a restore killed mid-file leaves them, and the
 * next restore into the same directories removes them (removeLeftovers()).
 */
const TEMP_NAME = /^\.blindsync-[0-9a-f]{16}-[0-9]+\.tmp$/;

/**
 * The target as a dry run sees it, creating nothing: its real path when it exists (checked as
 * prepareTarget() checks it), else its absolute path and `exists` false.
 */
export async function inspectTarget(
  target: string,
): Promise<{ root: Buffer; exists: boolean }> {
  const absolute = resolvePath(target);
  try {
    await fsp.lstat(absolute);
  } catch (error) {
    if (errnoCode(error) === "ENOENT")
      return { root: Buffer.from(absolute), exists: false };
  }
  return { root: await prepareTarget(target, false), exists: true };
}

/** Creates the target (mkdir -p) and returns its real path; every failure here is fatal. */
export async function prepareTarget(
  target: string,
  create = true,
): Promise<Buffer> {
  const absolute = resolvePath(target);
  try {
    if (create) await fsp.mkdir(absolute, { recursive: true });
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

  /**
   * Removes from `dir` the files and symlinks with blindsync's temporary names that another
   * restore left (never a directory, never one of this restore's own); returns how many.
   */
  removeLeftovers(dir: Buffer): number {
    let removed = 0;
    for (const name of readdirSync(dir, { encoding: "buffer" })) {
      const text = name.toString("latin1");
      if (!TEMP_NAME.test(text) || text.startsWith(this.ownPrefix)) continue;
      const path = joinPath(dir, name);
      this.assertInside(path);
      if (lstatOrUndefined(path)?.isDirectory() !== false) continue;
      try {
        unlinkSync(path);
        removed++;
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error;
      }
    }
    return removed;
  }

  private get ownPrefix(): string {
    return `.blindsync-${this.tempPrefix}-`;
  }

  /** A fresh name in `dir`: unguessable prefix per restore, a counter per file. */
  tempPath(dir: Buffer): Buffer {
    return joinPath(
      dir,
      Buffer.from(`${this.ownPrefix}${this.tempCount++}.tmp`),
    );
  }
}
