/**
 * Everything a restore removes from the target, and the rename that puts a finished entry in
 * place (the one step that may have to remove what stands at its name):
 *
 * - the delete pass (`--delete`): what a restored directory has and the snapshot does not;
 * - what stands where the snapshot has something else (`--delete` only);
 * - never a protected path (protect.ts), nor the directories that hold one, nor anything outside
 *   the target; a symlink is removed itself, never followed.
 */
import {
  promises as fsp,
  lstatSync,
  readdirSync,
  renameSync,
  rmdirSync,
  unlinkSync,
} from "node:fs";
import { describeError } from "../../errors.js";
import type { Tree } from "../../repo/index.js";
import { isSingleName, joinPath, nameKey } from "../fs-names.js";
import { EntryFailure, ProtectedRefusal } from "./failures.js";
import { errnoCode, lastName, lstatOrUndefined } from "./fs-ops.js";
import { identityOf, type Protection } from "./protect.js";
import type { Tally } from "./tally.js";
import type { Target } from "./target.js";

export class Deletion {
  /**
   * `enabled`: the user asked for `--delete`; without it nothing in the target is removed.
   * `dryRun`: only report what would go (the protection checks still run, so a dry run refuses
   * what the real one would).
   */
  constructor(
    private readonly target: Target,
    private readonly tally: Tally,
    private readonly protection: Protection | undefined,
    readonly enabled: boolean,
    private readonly dryRun = false,
  ) {}

  /**
   * The delete pass for one directory: removes what the target has in `dirPath` and `tree` does
   * not, except protected paths, which are kept with the directories that hold them.
   * `dirIdentity`: the directory's identity when it existed before this restore.
   */
  async extras(
    tree: Tree,
    dirPath: Buffer,
    dirIdentity: string | undefined,
  ): Promise<void> {
    const wanted = new Set(tree.entries.map((entry) => nameKey(entry.name)));
    let present: Buffer[];
    try {
      present = await fsp.readdir(dirPath, { encoding: "buffer" });
    } catch (error) {
      this.tally.fail(
        `Cannot list "${this.target.show(dirPath)}" to delete extra entries: ${describeError(error)}`,
      );
      return;
    }
    for (const name of present) {
      if (wanted.has(nameKey(name)) || !isSingleName(name)) continue;
      const path = joinPath(dirPath, name);
      try {
        if (this.removeTree(path, dirIdentity))
          this.tally.deleted(this.target.show(path));
      } catch (error) {
        this.tally.fail(
          `Cannot delete "${this.target.show(path)}": ${describeError(error)}`,
        );
      }
    }
  }

  /**
   * Removes what stands where the snapshot has something else (with `delete`); refuses, before
   * removing anything, when that is or holds a protected path.
   */
  inTheWay(path: Buffer): void {
    const stats = lstatOrUndefined(path);
    if (stats !== undefined && this.protection !== undefined) {
      const guarded = this.protection.exactly(stats);
      if (guarded !== undefined) throw new ProtectedRefusal(guarded);
      const held = this.protection.holds(stats);
      if (held !== undefined) throw new ProtectedRefusal(held, "holds");
    }
    if (!this.removeTree(path)) {
      throw new EntryFailure("something protected below it was kept");
    }
    this.tally.deleted(this.target.show(path));
  }

  /** Renames a finished temporary file or link over `path`; a directory there needs `delete`. */
  replace(temp: Buffer, path: Buffer): void {
    this.target.assertInside(path);
    try {
      renameSync(temp, path);
    } catch (error) {
      const code = errnoCode(error);
      if (code !== "EISDIR" && code !== "ENOTEMPTY" && code !== "EEXIST")
        throw error;
      const existing = lstatSync(path);
      if (this.enabled && !existing.isDirectory()) throw error;
      this.replaceDirectory(path);
      renameSync(temp, path);
    }
  }

  /** Removes the directory at `path` for an entry of another type; needs `delete`. */
  replaceDirectory(path: Buffer): void {
    if (!this.enabled) {
      throw new EntryFailure(
        "the target has a directory there (restore with --delete to replace it)",
      );
    }
    this.inTheWay(path);
  }

  /**
   * rm -r that never follows a symlink and never leaves the target. A protected path is kept,
   * unread, and so is every directory above it (with a warning naming it); true when `path` is
   * gone. `dirIdentity`: the identity of the directory holding `path`, when known.
   */
  private removeTree(path: Buffer, dirIdentity?: string): boolean {
    this.target.assertInside(path);
    const stats = lstatOrUndefined(path);
    if (stats === undefined) return true;
    const guarded = this.protection?.protects(
      dirIdentity,
      lastName(path),
      stats,
    );
    if (guarded !== undefined) {
      this.tally.warn(
        `Kept "${this.target.show(path)}": ${new ProtectedRefusal(guarded).message}`,
      );
      return false;
    }
    if (this.dryRun) {
      // Not read through: a directory goes whole, unless it holds a protected path, which the
      // real pass keeps together with the directories above it.
      const held = this.protection?.holds(stats);
      if (held === undefined) return true;
      this.tally.warn(
        `Kept "${this.target.show(path)}": ${new ProtectedRefusal(held, "holds").message}`,
      );
      return false;
    }
    if (!stats.isDirectory()) {
      unlinkSync(path);
      return true;
    }
    const identity = identityOf(stats);
    let kept = 0;
    let removed = 0;
    for (const name of readdirSync(path, { encoding: "buffer" })) {
      if (!isSingleName(name)) continue;
      if (this.removeTree(joinPath(path, name), identity)) removed++;
      else kept++;
    }
    if (kept === 0) {
      rmdirSync(path);
      return true;
    }
    // Kept for what it holds: what went from it counts, as extras() counts a whole directory.
    this.tally.result.deleted += removed;
    return false;
  }
}
