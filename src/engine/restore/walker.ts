/**
 * The walk: decides what a restore writes, directory by directory, depth first. It checks every
 * name again (not empty, `.`, `..`, no `/`, no NUL) even though the tree decoder already refuses
 * them; a refused name is a warning and an error, and nothing below it is restored. It follows
 * `--include` and `--exclude` (selection.ts), refuses entries that would land on a protected
 * path, runs the delete pass of each directory it fully restores, creates (or checks with lstat)
 * each directory before anything goes into it (an existing non-directory in the way, a symlink
 * above all, is never followed: it is refused, or with `--delete` removed itself), and hands
 * regular files to the scheduler, symlinks and directory metadata to the finishing pass. It
 * stops at the expansion bound (expansion.ts).
 *
 * A directory the walk enters only to look for include matches is created when the first entry
 * in it is restored, so a pattern like `*.pdf` does not leave the snapshot's whole skeleton of
 * empty directories behind. An existing directory loses the temporary files an interrupted
 * restore left in it (target.ts) before anything is written into it. A dry run checks with
 * lstat where a real one would create, and changes nothing.
 *
 * Memory stays bounded: the walk holds one tree per level, plus up to TREES_AHEAD subtrees of a
 * directory fetched ahead, within about 1,024 entries (a window that slides as the walk takes
 * them).
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
import { displayBytes, isSingleName, joinPath } from "../fs-names.js";
import type { Deletion } from "./deletion.js";
import { ExpansionBound } from "./expansion.js";
import { ExpectAhead, TreesAhead, type TreeWindow } from "./expect-ahead.js";
import { ProtectedRefusal } from "./failures.js";
import type { Finishing } from "./finishing.js";
import { restoreFifo } from "./fifos.js";
import { errnoCode, lstatOrUndefined, S_ISGID } from "./fs-ops.js";
import type { Hardlinks } from "./hardlinks.js";
import { identityOf, type Protection } from "./protect.js";
import type { Scope, Selection } from "./selection.js";
import type { Tally } from "./tally.js";
import type { Target } from "./target.js";
import type { RestoreRepository } from "./types.js";

/**
 * Subdirectory trees of one directory fetched ahead of the walk: up to 64 trees, enough to keep
 * a burst of tree requests in flight over ssh, but no more than about 1,024 entries, so that
 * the decoded trees waiting for the walk stay small (64 trees of 100 entries cost 7 % more CPU
 * and 30 MiB more peak RSS restoring 50,000 small files); 64 tree ids hinted to the store ahead
 * (docs/performance.md, "Restore CPU, round three").
 */
const TREES_AHEAD: TreeWindow = { trees: 64, entries: 1024, hinted: 64 };

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

/**
 * A directory of the target as the walk holds it: made (or checked) by ready() when something
 * first goes into it, once; ready() gives undefined when it cannot be used (already reported).
 */
export interface Place {
  readonly path: Buffer;
  ready(): DirState | undefined;
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
    private readonly selection: Selection,
    private readonly dryRun: boolean,
  ) {}

  /** A method, not a field test: the walk awaits, and another branch may stop it meanwhile. */
  private halted(): boolean {
    return this.stopped !== undefined;
  }

  /** The target's root as a Place; its leftovers are swept now (not in a dry run). */
  rootPlace(state: DirState): Place {
    if (!this.dryRun && state.identity !== undefined)
      this.sweepLeftovers(this.target.root);
    return { path: this.target.root, ready: () => state };
  }

  /** Walks `tree` (whose id is `treeId`), to be restored at `place`. */
  async walk(
    tree: Tree,
    treeId: Uint8Array,
    place: Place,
    scope: Scope,
  ): Promise<void> {
    if (this.halted()) return;
    const stop = this.bound.count(treeId, tree);
    if (stop !== undefined) {
      this.stopped = stop;
      return;
    }
    if (scope.whole) {
      const state = place.ready();
      if (state === undefined) return;
      // A directory this restore creates has nothing extra in it (nor, in a dry run, exists).
      if (this.deletion.enabled && state.identity !== undefined)
        await this.deletion.extras(tree, place.path, state.identity);
    }
    const scopes = new Map<TreeEntry, Scope>();
    for (const entry of tree.entries) {
      if (!isSingleName(entry.name) || !isSafeName(entry.name)) continue;
      const child = this.selection.child(
        scope,
        entry.name,
        entry.type === "dir",
      );
      if (child !== undefined) scopes.set(entry, child);
    }
    // The subdirectories' trees are fetched TREES_AHEAD at a time ahead of the walk: over ssh
    // that is one pipelined burst instead of one round trip per directory. They and the small
    // files' blobs are hinted to the store first, so a pack store reads what it expects of a
    // pack together (expect-ahead.ts).
    const subtrees = new TreesAhead(
      this.repo,
      [...scopes]
        .filter((pair): pair is [DirEntry, Scope] => pair[0].type === "dir")
        .map(([entry, child]) => ({ entry, whole: child.whole })),
      TREES_AHEAD,
      !this.dryRun,
    );
    const ahead = this.dryRun
      ? undefined
      : new ExpectAhead(this.repo, tree, scopes.keys());
    for (const entry of tree.entries) {
      // A deeper walk may have stopped the restore while this one awaited it.
      if (this.halted()) return;
      // Checked again on purpose: decodeTree refuses these too, but restore must not rely on it.
      if (!isSingleName(entry.name) || !isSafeName(entry.name)) {
        this.tally.damaged(
          `Refusing an entry with an unsafe name "${displayBytes(entry.name)}" in "${this.target.show(place.path)}"`,
        );
        continue;
      }
      const childScope = scopes.get(entry);
      if (childScope === undefined) continue;
      const path = joinPath(place.path, entry.name);
      if (entry.type === "dir") {
        await this.restoreDir(
          entry,
          path,
          place,
          childScope,
          subtrees.take(entry),
        );
        continue;
      }
      const state = this.enter(place, entry.name, path);
      if (state === undefined) continue;
      switch (entry.type) {
        case "symlink":
          this.finishing.addSymlink(path, entry);
          break;
        case "file":
          ahead?.passed(entry);
          await this.files.schedule(entry, path, state.fresh);
          break;
        case "fifo":
          // A dry run creates nothing; fifos are not among the files it reports.
          if (this.dryRun) break;
          restoreFifo(path, entry, {
            target: this.target,
            tally: this.tally,
            deletion: this.deletion,
          });
          break;
      }
    }
  }

  /**
   * Makes the directory `parent` ready for the entry `name` (at `path`): its state, or undefined
   * when the entry must not be restored. A directory this restore created holds nothing
   * protected; elsewhere a protected name is refused here, before anything could be fetched,
   * checked in place or renamed over it.
   */
  private enter(
    parent: Place,
    name: Uint8Array,
    path: Buffer,
  ): DirState | undefined {
    const state = parent.ready();
    if (state === undefined) return undefined;
    const guarded = state.fresh
      ? undefined
      : this.protection?.protects(state.identity, name);
    if (guarded === undefined) return state;
    const refusal = new ProtectedRefusal(guarded);
    this.tally.fail(
      `Refusing to restore "${this.target.show(path)}": ${refusal.message}`,
      refusal,
    );
    return undefined;
  }

  private async restoreDir(
    entry: DirEntry,
    path: Buffer,
    parent: Place,
    scope: Scope,
    loading: Promise<Tree> = this.repo.loadTree(entry.subtree),
  ): Promise<void> {
    let tree: Tree;
    try {
      tree = await loading;
    } catch (error) {
      this.tally.damaged(
        `Cannot restore directory "${this.target.show(path)}": its tree ${toHex(entry.subtree)} cannot be read (${describeError(error)})`,
      );
      return;
    }
    let made = false;
    let state: DirState | undefined;
    const place: Place = {
      path,
      ready: () => {
        if (made) return state;
        made = true;
        const parentState = this.enter(parent, entry.name, path);
        state =
          parentState === undefined
            ? undefined
            : this.ensureDir(path, parentState);
        if (state !== undefined) {
          this.tally.result.dirs++;
          this.finishing.addDir(path, entry);
          if (state.identity === undefined)
            this.tally.item("create", `${this.target.show(path)}/`);
        }
        return state;
      },
    };
    await this.walk(tree, entry.subtree, place, scope);
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
      if (this.dryRun) {
        // Below a directory this restore would create there is nothing to look at.
        if (parent.identity === undefined) return created;
        if (lstatOrUndefined(path) === undefined) return created;
      } else {
        try {
          // 0o700 while restoring, so a read-only directory in the snapshot can still be
          // filled; its own mode is applied at the end.
          mkdirSync(path, 0o700);
          return created;
        } catch (error) {
          if (errnoCode(error) !== "EEXIST") throw error;
        }
      }
      const existing = lstatSync(path, { bigint: true });
      const guarded = this.protection?.exactly(existing);
      if (guarded !== undefined) throw new ProtectedRefusal(guarded);
      if (existing.isDirectory()) {
        if (!this.dryRun) this.sweepLeftovers(path);
        return existingDirState(existing);
      }
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
      if (!this.dryRun) mkdirSync(path, 0o700);
      return created;
    } catch (error) {
      this.tally.fail(
        `Cannot create directory "${this.target.show(path)}": ${describeError(error)}`,
        error,
      );
      return undefined;
    }
  }

  /** Removes what an interrupted restore left in `dir`; a failure only warns. */
  private sweepLeftovers(dir: Buffer): void {
    try {
      this.tally.result.leftoversRemoved += this.target.removeLeftovers(dir);
    } catch (error) {
      this.tally.warn(
        `Cannot remove temporary files an earlier restore left in "${this.target.show(dir)}": ${describeError(error)}`,
      );
    }
  }
}
