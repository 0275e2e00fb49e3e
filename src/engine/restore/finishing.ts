/**
 * What a restore does after every file is written: symlinks from the snapshot are created only
 * now, so none of them can redirect a write of this restore; then directory owners, modes and
 * mtimes, deepest first, so writing into a directory no longer touches its mtime and a read-only
 * directory could still be filled. A symlink already at an entry's name is judged by the
 * overwrite policy as a file is.
 */
import {
  fchmodSync,
  fchownSync,
  constants as fsConstants,
  lchownSync,
  openSync,
  symlinkSync,
} from "node:fs";
import { describeError } from "../../errors.js";
import {
  MODE_MASK,
  type DirEntry,
  type SymlinkEntry,
} from "../../repo/index.js";
import { ByteArena } from "../../util/byte-arena.js";
import { parentPath } from "../fs-names.js";
import type { Deletion } from "./deletion.js";
import {
  asBuffer,
  closeQuietly,
  lstatOrUndefined,
  unlinkQuietly,
  type Owner,
} from "./fs-ops.js";
import { fateOf, type OverwritePolicy } from "./overwrite.js";
import type { Tally } from "./tally.js";
import type { Target } from "./target.js";
import { setTimes } from "./times.js";

/**
 * Held until the end of the restore, each directory and symlink is copied into `arena` out of
 * what it was a view of: its path out of a pool slab, its entry's bytes out of its tree's
 * plaintext, which held every inline file of the directory above. Held as views, a restore of
 * 1,000,000 small files in 10,000 directories grew by 55 MiB of buffers over its run
 * (docs/performance.md, "Paths that held their pool slabs").
 */
export function heldEntry<T extends DirEntry | SymlinkEntry>(
  entry: T,
  arena: ByteArena,
): T {
  const name = arena.copy(entry.name);
  return entry.type === "dir"
    ? { ...entry, name, subtree: arena.copy(entry.subtree) }
    : { ...entry, name, target: arena.copy(entry.target) };
}

const DIR_FLAGS =
  fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW;

export class Finishing {
  private readonly dirs: { readonly path: Buffer; readonly entry: DirEntry }[] =
    [];
  private readonly symlinks: {
    readonly path: Buffer;
    readonly entry: SymlinkEntry;
  }[] = [];
  /** Where held paths and entries' bytes are copied (heldEntry). */
  private readonly held = new ByteArena();

  /** `dryRun`: symlinks are judged and counted, nothing is created or changed. */
  constructor(
    private readonly target: Target,
    private readonly tally: Tally,
    private readonly deletion: Deletion,
    private readonly owner: Owner,
    private readonly overwrite: OverwritePolicy,
    private readonly dryRun: boolean,
  ) {}

  /** A directory the walk created or reused; call in pre-order (a parent before its children). */
  addDir(path: Buffer, entry: DirEntry): void {
    this.dirs.push({
      path: this.held.copy(path),
      entry: heldEntry(entry, this.held),
    });
  }

  addSymlink(path: Buffer, entry: SymlinkEntry): void {
    this.symlinks.push({
      path: this.held.copy(path),
      entry: heldEntry(entry, this.held),
    });
  }

  /** Call once every file is done. */
  finish(): void {
    for (const link of this.symlinks)
      this.restoreSymlink(link.path, link.entry);
    if (this.dryRun) return;
    // Reverse pre-order puts every directory after all of its descendants: deepest first.
    for (let index = this.dirs.length - 1; index >= 0; index--) {
      const dir = this.dirs[index];
      if (dir !== undefined) this.applyDirMetadata(dir.path, dir.entry);
    }
  }

  private restoreSymlink(path: Buffer, entry: SymlinkEntry): void {
    const temp = this.target.tempPath(parentPath(path));
    try {
      const existing = lstatOrUndefined(path);
      const fate = fateOf(this.overwrite, entry.mtimeNs, existing);
      if (fate === "keep") {
        this.tally.item("keep", this.target.show(path));
        return;
      }
      if (this.dryRun) {
        if (existing?.isDirectory() === true)
          this.deletion.replaceDirectory(path);
      } else {
        symlinkSync(asBuffer(entry.target), temp);
        if (this.owner.isRoot) lchownSync(temp, entry.uid, entry.gid);
        setTimes(temp, entry.mtimeNs);
        this.deletion.replace(temp, path);
      }
      this.tally.result.symlinks++;
      this.tally.item(
        fate === "create" ? "create" : "overwrite",
        this.target.show(path),
      );
    } catch (error) {
      unlinkQuietly(temp);
      this.tally.fail(
        `Cannot restore symlink "${this.target.show(path)}": ${describeError(error)}`,
        error,
      );
    }
  }

  /** Owner, mode and mtime of a directory, through a descriptor opened without following. */
  private applyDirMetadata(path: Buffer, entry: DirEntry): void {
    let fd: number | undefined;
    try {
      fd = openSync(path, DIR_FLAGS);
      if (this.owner.isRoot) fchownSync(fd, entry.uid, entry.gid);
      fchmodSync(fd, entry.mode & MODE_MASK);
      setTimes(path, entry.mtimeNs, fd);
    } catch (error) {
      this.tally.fail(
        `Cannot set the metadata of directory "${this.target.show(path)}": ${describeError(error)}`,
      );
    } finally {
      if (fd !== undefined) closeQuietly(fd);
    }
  }
}
