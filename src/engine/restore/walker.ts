/**
 * The walk: decides what a restore writes, directory by directory, depth first. It checks every
 * name again (not empty, `.`, `..`, no `/`, no NUL) even though the tree decoder already refuses
 * them; a refused name is a warning and an error, and nothing below it is restored. It follows
 * `--include`, refuses entries that would land on a protected path, runs the delete pass of each
 * directory it fully restores, creates (or checks with lstat) each directory as it descends
 * (an existing non-directory in the way, a symlink above all, is never followed: it is refused,
 * or with `--delete` removed itself), and hands regular files to the scheduler, symlinks and
 * directory metadata to the finishing pass. It stops at the expansion bound (expansion.ts).
 *
 * Memory stays bounded: the walk holds one tree per level, plus up to TREES_AHEAD subtrees of a
 * directory being fetched.
 */
import { lstatSync, mkdirSync, type BigIntStats } from "node:fs";
import { type BlindsyncError, describeError } from "../../errors.js";
import {
  isSafeName,
  type DirEntry,
  type Tree,
  type TreeEntry,
} from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import { displayBytes, isSingleName, joinPath, nameKey } from "../fs-names.js";
import type { Deletion } from "./deletion.js";
import { ExpansionBound } from "./expansion.js";
import { ProtectedRefusal } from "./failures.js";
import type { Finishing } from "./finishing.js";
import { restoreFifo } from "./fifos.js";
import { errnoCode, S_ISGID } from "./fs-ops.js";
import type { Hardlinks } from "./hardlinks.js";
import type { Selection } from "./includes.js";
import { identityOf, type Protection } from "./protect.js";
import type { Tally } from "./tally.js";
import type { Target } from "./target.js";
import type { RestoreRepository } from "./types.js";

/** Subdirectory trees of one directory fetched ahead of the walk. */
const TREES_AHEAD = 64;

/** What restore knows about a directory it is filling. */
export interface DirState {
  /**
   * Created by this restore and so empty at first, in a directory without the setgid bit: its
   * new files need no in-place check and get the process's own uid and gid.
   */
  readonly fresh: boolean;
  /** New entries inherit the directory's group (and subdirectories the bit) on Linux. */
  readonly setgid: boolean;
  /** Device and inode of a directory that existed before (identityOf), for protected paths. */
  readonly identity?: string;
}

/** The state of a directory that existed before this restore, from its lstat. */
export function existingDirState(stats: BigIntStats): DirState {
  return {
    fresh: false,
    setgid: (Number(stats.mode) & S_ISGID) !== 0,
    identity: identityOf(stats),
  };
}

export class Walker {
  private readonly bound = new ExpansionBound();
  /** Set when the walk must stop; thrown once the files in flight have finished. */
  stopped: BlindsyncError | undefined;

  constructor(
    private readonly repo: RestoreRepository,
    private readonly target: Target,
    private readonly tally: Tally,
    private readonly protection: Protection | undefined,
    private readonly deletion: Deletion,
    private readonly files: Hardlinks,
    private readonly finishing: Finishing,
  ) {}

  /** A method, not a field test: the walk awaits, and another branch may stop it meanwhile. */
  private halted(): boolean {
    return this.stopped !== undefined;
  }

  /** Walks `tree` (whose id is `treeId`), already in place at `dirPath`. */
  async walk(
    tree: Tree,
    treeId: Uint8Array,
    dirPath: Buffer,
    selection: Selection,
    state: DirState,
  ): Promise<void> {
    if (this.halted()) return;
    const stop = this.bound.count(treeId, tree);
    if (stop !== undefined) {
      this.stopped = stop;
      return;
    }
    if (selection === "all" && this.deletion.enabled)
      await this.deletion.extras(tree, dirPath, state.identity);
    // The subdirectories' trees are fetched together up front: over ssh that is one pipelined
    // burst instead of one round trip per directory.
    const subtrees = new Map<TreeEntry, Promise<Tree>>();
    for (const entry of tree.entries) {
      if (entry.type !== "dir" || subtrees.size >= TREES_AHEAD) continue;
      if (selection !== "all" && !selection.children.has(nameKey(entry.name)))
        continue;
      const loading = this.repo.loadTree(entry.subtree);
      loading.catch(() => undefined);
      subtrees.set(entry, loading);
    }
    for (const entry of tree.entries) {
      // A deeper walk may have stopped the restore while this one awaited it.
      if (this.halted()) return;
      // Checked again on purpose: decodeTree refuses these too, but restore must not rely on it.
      if (!isSingleName(entry.name) || !isSafeName(entry.name)) {
        this.tally.fail(
          `Refusing an entry with an unsafe name "${displayBytes(entry.name)}" in "${this.target.show(dirPath)}"`,
        );
        continue;
      }
      let childSelection: Selection = "all";
      if (selection !== "all") {
        const node = selection.children.get(nameKey(entry.name));
        if (node === undefined) continue;
        node.matched = true;
        if (node.whole === undefined) {
          // A leading directory only; a file or symlink here means the include path goes
          // through something that is not a directory, reported as unmatched below it.
          if (entry.type !== "dir") continue;
          childSelection = node;
        }
      }
      const path = joinPath(dirPath, entry.name);
      // A directory this restore created holds nothing protected; elsewhere a protected name is
      // refused here, before anything could be fetched, checked in place or renamed over it.
      const guarded = state.fresh
        ? undefined
        : this.protection?.protects(state.identity, entry.name);
      if (guarded !== undefined) {
        const refusal = new ProtectedRefusal(guarded);
        this.tally.fail(
          `Refusing to restore "${this.target.show(path)}": ${refusal.message}`,
          refusal,
        );
        continue;
      }
      switch (entry.type) {
        case "dir":
          await this.restoreDir(
            entry,
            path,
            childSelection,
            state,
            subtrees.get(entry),
          );
          break;
        case "symlink":
          this.finishing.addSymlink(path, entry);
          break;
        case "file":
          await this.files.schedule(entry, path, state.fresh);
          break;
        case "fifo":
          restoreFifo(path, entry, {
            target: this.target,
            tally: this.tally,
            deletion: this.deletion,
          });
          break;
      }
    }
  }

  private async restoreDir(
    entry: DirEntry,
    path: Buffer,
    selection: Selection,
    parent: DirState,
    loading: Promise<Tree> = this.repo.loadTree(entry.subtree),
  ): Promise<void> {
    let tree: Tree;
    try {
      tree = await loading;
    } catch (error) {
      this.tally.fail(
        `Cannot restore directory "${this.target.show(path)}": its tree ${toHex(entry.subtree)} cannot be read (${describeError(error)})`,
      );
      return;
    }
    const state = this.ensureDir(path, parent);
    if (state === undefined) return;
    this.tally.result.dirs++;
    this.finishing.addDir(path, entry);
    await this.walk(tree, entry.subtree, path, selection, state);
  }

  /**
   * Creates a directory or accepts an existing real one; never goes through a symlink.
   * Undefined when the directory cannot be used (already reported).
   */
  private ensureDir(path: Buffer, parent: DirState): DirState | undefined {
    const created: DirState = {
      fresh: !parent.setgid,
      setgid: parent.setgid,
    };
    try {
      try {
        // 0o700 while restoring, so a read-only directory in the snapshot can still be filled;
        // its own mode is applied at the end.
        mkdirSync(path, 0o700);
        return created;
      } catch (error) {
        if (errnoCode(error) !== "EEXIST") throw error;
      }
      const existing = lstatSync(path, { bigint: true });
      const guarded = this.protection?.exactly(existing);
      if (guarded !== undefined) throw new ProtectedRefusal(guarded);
      if (existing.isDirectory()) return existingDirState(existing);
      const what = existing.isSymbolicLink()
        ? "a symlink"
        : "a file that is not a directory";
      if (!this.deletion.enabled) {
        this.tally.fail(
          `Refusing to restore directory "${this.target.show(path)}": the target has ${what} there, which is never followed (restore with --delete to replace it)`,
        );
        return undefined;
      }
      this.deletion.inTheWay(path);
      mkdirSync(path, 0o700);
      return created;
    } catch (error) {
      this.tally.fail(
        `Cannot create directory "${this.target.show(path)}": ${describeError(error)}`,
        error,
      );
      return undefined;
    }
  }
}
