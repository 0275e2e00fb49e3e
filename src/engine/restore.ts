/**
 * Restore: writes a snapshot's tree into a target directory, treating the repository as hostile
 * (docs/design.md, "Restore treats the repository as hostile"; research/security.md T11).
 *
 * - Every name is checked again here (not empty, `.`, `..`, no `/`, no NUL) even though the tree
 *   decoder already refuses them; a refused name is a warning and an error, and nothing below it
 *   is restored. Paths are Buffers from end to end, so any byte string round-trips.
 * - Directories are created (or checked with lstat) one component at a time as the walk descends;
 *   an existing non-directory in the way, a symlink above all, is never followed: restore refuses
 *   it, or with `delete` removes the link itself and creates the directory.
 * - A file is written to a fresh temporary name in its directory (O_CREAT|O_EXCL|O_NOFOLLOW), one
 *   blob at a time, and its size and SHA-256 are verified before it is renamed over the final
 *   name. rename() replaces a symlink at the final name; it never follows it. On any failure the
 *   temporary file is removed, so nothing unverified ever appears under a real name.
 * - Symlinks from the snapshot are created after every file and directory, so none of them can
 *   redirect a write of this restore; directory metadata comes last, deepest first.
 *
 * Residual risk, stated plainly: Node has no openat(), so a local attacker who can write into the
 * target *while* the restore runs could swap a checked directory for a symlink between the check
 * and a later write (the race restic and rsync also document). Links planted before the restore,
 * which is the threat in research/security.md, are always caught.
 *
 * Memory stays bounded: the walk is depth-first and holds one tree per level (plus up to
 * TREES_AHEAD subtrees being fetched), at most `concurrency` files are in flight, and together
 * they hold at most BYTES_IN_FLIGHT of fetched blobs (each file counts min(size, 3 blobs); a
 * single file larger than that budget runs alone).
 */
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  constants as fsConstants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  futimesSync,
  linkSync,
  lchownSync,
  lutimesSync,
  lstatSync,
  mkdirSync,
  openSync,
  promises as fsp,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type BigIntStats,
} from "node:fs";
import { resolve as resolvePath } from "node:path";
import { BlindsyncError, describeError, isBlindsyncError } from "../errors.js";
import {
  isSafeName,
  MODE_MASK,
  type DirEntry,
  type TreeEntry,
  type FileEntry,
  type Repository,
  type Snapshot,
  type SymlinkEntry,
  type Tree,
} from "../repo/index.js";
import { DEFAULT_CHUNKER_PARAMS } from "../chunker/index.js";
import { toHex } from "../util/bytes.js";
import { exactFileTimes, setFileTimesSync } from "../util/file-times.js";
import {
  displayBytes,
  isInside,
  isSingleName,
  joinPath,
  nameKey,
  parentPath,
} from "./fs-names.js";
import {
  identityOf,
  Protection,
  type ProtectedPath,
} from "./restore-protect.js";

export interface RestoreProgress {
  /** Files finished so far (written, linked or found identical). */
  readonly files: number;
  /** Bytes of file content written so far, including files that later failed verification. */
  readonly bytes: number;
  /** Known only for a whole-snapshot restore, from the snapshot's own statistics. */
  readonly totalFiles?: number;
  readonly totalBytes?: number;
}

export interface RestoreSink {
  progress(progress: RestoreProgress): void;
  /** One line, already escaped for display; each warning that is an error is counted in `errors`. */
  warn(message: string): void;
}

/** What restore needs from a repository: authenticated trees and data blobs. */
export type RestoreRepository = Pick<Repository, "load" | "loadTree">;

export interface RestoreOptions {
  readonly repo: RestoreRepository;
  readonly snapshot: Pick<Snapshot, "tree"> & Partial<Pick<Snapshot, "stats">>;
  /** Created if missing (mkdir -p); may already hold files. */
  readonly target: string;
  /** Paths relative to the snapshot root; only these subtrees (and the directories leading to them). */
  readonly include?: readonly string[];
  /** Remove what the snapshot does not have, inside the restored subtrees only. */
  readonly delete?: boolean;
  readonly sink: RestoreSink;
  /** Files fetched and written in parallel (default 64, within a 32 MiB budget of blobs). */
  readonly concurrency?: number;
  /**
   * fsync each file before renaming it (default false). Measured here on ext4: 4 KiB files went
   * from 0.55 to 3.7 ms each (about 7x), 1 MiB files from 0.9 to 2.7 ms (3x). A crash during a
   * restore loses only files the user can restore again, so the default skips it.
   */
  readonly fsync?: boolean;
  /**
   * Paths no restore may delete or overwrite (the repository, the client cache): kept by the
   * delete pass, refused as a place to write, refused as the target (restore-protect.ts).
   */
  readonly protect?: readonly ProtectedPath[];
}

export interface RestoreResult {
  /** Regular files now in place as the snapshot has them, including skippedIdentical. */
  files: number;
  /** Directories created or reused (the target itself is not counted). */
  dirs: number;
  symlinks: number;
  /** Bytes of file content written (files skipped as identical or hardlinked count nothing). */
  bytes: number;
  /** Files already present with the same size, mtime and SHA-256; only their mode was fixed. */
  skippedIdentical: number;
  /** Entries removed from the target by `delete` (a removed directory counts once). */
  deleted: number;
  /** Warnings that mean something was not restored; the CLI exits non-zero when above 0. */
  errors: number;
  /** Of `errors`, entries refused because they would have replaced a protected path. */
  refused: number;
}

/**
 * Files in flight. Most files are one small blob, so this is what keeps requests pipelined:
 * with 4 the client sat idle waiting for round trips (docs/performance.md).
 */
const DEFAULT_CONCURRENCY = 64;
/** Data blobs of one file fetched ahead of the one being written. */
const BLOBS_AHEAD = 3;
/** The chunker's usual largest blob; a file may hold BLOBS_AHEAD of them at once. */
const MAX_BLOB_BYTES = DEFAULT_CHUNKER_PARAMS.maxSize;
/**
 * Budget for the blobs all files in flight may hold at once (a file counts min(size, 3 blobs)).
 * 64 MiB put the full-corpus restore's peak RSS above restic's (255 against 221 MiB).
 */
const BYTES_IN_FLIGHT = 32 * 1024 * 1024;
/** Subdirectory trees of one directory fetched ahead of the walk. */
const TREES_AHEAD = 64;
/**
 * The bound on how far shared subtrees may expand. A backup stores an unchanged directory once
 * however often it occurs (two copies of a directory, thousands of empty directories share one
 * tree), so a restore legitimately walks more entries than the distinct trees hold; but a tree
 * whose entries all name one subtree, nested k deep, expands 2^k times from k small blobs. A
 * restore stops once it has walked more than EXPANSION_FLOOR entries and more than
 * EXPANSION_FACTOR times the entries of the distinct trees it has seen (each tree counts one plus
 * its entries). An honest snapshot walks past that only when, on average, every distinct entry
 * recurs a thousand times: a backup of a disk of dated copies (a year of daily copies of one
 * home directory recurs about 365 times) stays well inside, copies nested in copies can leave
 * it. A forged snapshot stops after work linear in what the forger stored (the 2^40 directories
 * of 41 binary trees after about 40,000). Trees are loaded by keyed id, so a cycle would need
 * an HMAC fixed point; the bound would stop one anyway.
 */
const EXPANSION_FLOOR = 10_000;
const EXPANSION_FACTOR = 1_000;
/** Sparse detection granularity: zero runs of this size, aligned in the file, become holes. */
const HOLE_BLOCK = 64 * 1024;
const ZERO_BLOCK = Buffer.alloc(HOLE_BLOCK);
const READ_BLOCK = 1024 * 1024;
const NS_PER_SECOND = 1_000_000_000n;
const S_ISGID = 0o2000;

const WRITE_FLAGS =
  fsConstants.O_WRONLY |
  fsConstants.O_CREAT |
  fsConstants.O_EXCL |
  fsConstants.O_NOFOLLOW;
// O_NONBLOCK so that a FIFO swapped in after the lstat cannot hang the restore.
const READ_FLAGS =
  fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;
const DIR_FLAGS =
  fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW;

/**
 * Mtime precision. With blindsync's utimensat addon (src/util/file-times.ts, `exactFileTimes`)
 * mtimes are restored to the exact nanosecond, before 1970 too. Without it (no compiler at
 * install) restore falls back to Node's fs.utimes family, and this is the seconds value it passes:
 * Node hands a double to libuv, which truncates it to whole microseconds, and a double near
 * today's epoch seconds resolves about 240 ns, so we aim at the middle of the microsecond
 * (+0.5 µs) and the truncation lands on exactly the right one. That fallback is exact to the
 * microsecond until 2106 (2^32 s), where a double's step grows past 0.5 µs; Node turns any
 * negative time into "now", so there mtimes before 1970 are restored as the epoch.
 */
export function utimesSeconds(mtimeNs: bigint): number {
  if (mtimeNs < 0n) return 0;
  const seconds = mtimeNs / NS_PER_SECOND;
  const micros = (mtimeNs % NS_PER_SECOND) / 1000n;
  return Number(seconds) + (Number(micros) + 0.5) / 1e6;
}

/** The mtime stat() reports after restore set `mtimeNs` (see utimesSeconds for the fallback). */
export function restoredMtimeNs(mtimeNs: bigint): bigint {
  if (exactFileTimes) return mtimeNs;
  if (mtimeNs < 0n) return 0n;
  return mtimeNs - (mtimeNs % 1000n);
}

/**
 * Sets atime and mtime of `path` without following a symlink there; `fd`, when given, is an
 * open descriptor of the same file for the fallback to use.
 */
function setTimes(path: Buffer, mtimeNs: bigint, fd?: number): void {
  if (exactFileTimes) {
    setFileTimesSync(path, mtimeNs, true);
    return;
  }
  const seconds = utimesSeconds(mtimeNs);
  if (fd === undefined) lutimesSync(path, seconds, seconds);
  else futimesSync(fd, seconds, seconds);
}

interface IncludeNode {
  /** The include path given by the user that ends here, if one does. */
  whole: string | undefined;
  matched: boolean;
  readonly children: Map<string, IncludeNode>;
}

/** "all" restores everything below; a node restores only its children (leading directories). */
type Selection = "all" | IncludeNode;

function newIncludeNode(): IncludeNode {
  return { whole: undefined, matched: false, children: new Map() };
}

/** Builds the include trie; undefined means the whole snapshot. Throws 'usage' for `..`. */
export function parseIncludes(
  include: readonly string[] | undefined,
): IncludeNode | undefined {
  if (include === undefined || include.length === 0) return undefined;
  const root = newIncludeNode();
  for (const path of include) {
    if (path.includes("\0")) {
      throw new BlindsyncError(
        "usage",
        `Include path "${path}" contains a NUL byte`,
      );
    }
    const parts = path.split("/").filter((part) => part !== "" && part !== ".");
    if (parts.includes("..")) {
      throw new BlindsyncError(
        "usage",
        `Include path "${path}" leaves the snapshot root`,
        {
          hint: "Give paths relative to the snapshot root, without ..",
        },
      );
    }
    if (parts.length === 0) return undefined;
    let node = root;
    for (const part of parts) {
      const key = nameKey(Buffer.from(part));
      let child = node.children.get(key);
      if (child === undefined) {
        child = newIncludeNode();
        node.children.set(key, child);
      }
      node = child;
    }
    node.whole = path;
  }
  return root;
}

function errnoCode(error: unknown): string | undefined {
  if (
    error instanceof Error &&
    "code" in error &&
    typeof error.code === "string"
  ) {
    return error.code;
  }
  return undefined;
}

function lstatOrUndefined(path: Buffer): BigIntStats | undefined {
  return lstatSync(path, { bigint: true, throwIfNoEntry: false });
}

function isZero(bytes: Buffer, start: number, end: number): boolean {
  return bytes.subarray(start, end).equals(ZERO_BLOCK.subarray(0, end - start));
}

function writeAll(
  fd: number,
  bytes: Buffer,
  start: number,
  end: number,
  position: number,
): void {
  let offset = start;
  while (offset < end) {
    const bytesWritten = writeSync(
      fd,
      bytes,
      offset,
      end - offset,
      position + offset - start,
    );
    if (bytesWritten <= 0) throw new Error("the file system accepted no bytes");
    offset += bytesWritten;
  }
}

/**
 * Writes `chunk` at `position`, skipping every HOLE_BLOCK-aligned block that is all zero, so a
 * sparse file stays sparse (the final ftruncate sets the size when the file ends in a hole).
 * Returns the file offset just past the last byte written, or `position` when all was holes.
 */
function writeSparse(fd: number, chunk: Buffer, position: number): number {
  let writtenEnd = position;
  let runStart = -1;
  let offset = 0;
  while (offset < chunk.length) {
    const blockEnd = Math.min(
      chunk.length,
      (Math.floor((position + offset) / HOLE_BLOCK) + 1) * HOLE_BLOCK -
        position,
    );
    if (isZero(chunk, offset, blockEnd)) {
      if (runStart >= 0) {
        writeAll(fd, chunk, runStart, offset, position + runStart);
        writtenEnd = position + offset;
      }
      runStart = -1;
    } else if (runStart < 0) {
      runStart = offset;
    }
    offset = blockEnd;
  }
  if (runStart >= 0) {
    writeAll(fd, chunk, runStart, chunk.length, position + runStart);
    writtenEnd = position + chunk.length;
  }
  return writtenEnd;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A failure that already names what went wrong, for the per-file warning. */
class EntryFailure extends Error {}

/** The entry would replace or remove a protected path (the repository, the cache). */
class ProtectedRefusal extends EntryFailure {
  constructor(protectedPath: ProtectedPath, relation: "is" | "holds" = "is") {
    super(
      `it ${relation} ${protectedPath.what} ("${protectedPath.path}"), which no restore deletes or overwrites`,
    );
  }
}

/** The last component of a byte path. */
function lastName(path: Buffer): Buffer {
  return path.subarray(path.lastIndexOf(0x2f) + 1);
}

function describeBlobFailure(id: Uint8Array, error: unknown): string {
  const blob = `data blob ${toHex(id)}`;
  if (isBlindsyncError(error, "not-found"))
    return `${blob} is missing from the repository`;
  if (isBlindsyncError(error, "integrity")) {
    return `${blob} failed verification (${describeError(error)})`;
  }
  return `${blob} could not be read (${describeError(error)})`;
}

/** What restore knows about a directory it is filling. */
interface DirState {
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

interface LinkSource {
  readonly entry: FileEntry;
  /** The first entry's restored path, or undefined when it could not be restored. */
  readonly done: Promise<Buffer | undefined>;
}

class Restorer {
  readonly result: RestoreResult = {
    files: 0,
    dirs: 0,
    symlinks: 0,
    bytes: 0,
    skippedIdentical: 0,
    deleted: 0,
    errors: 0,
    refused: 0,
  };
  private readonly dirs: { readonly path: Buffer; readonly entry: DirEntry }[] =
    [];
  private readonly symlinks: {
    readonly path: Buffer;
    readonly entry: SymlinkEntry;
  }[] = [];
  private readonly links = new Map<string, LinkSource>();
  private readonly running = new Set<Promise<void>>();
  private weightInFlight = 0;
  private readonly tempPrefix = randomBytes(8).toString("hex");
  private tempCount = 0;
  private readonly isRoot = process.getuid?.() === 0;
  private readonly uid = process.geteuid?.() ?? -1;
  private readonly gid = process.getegid?.() ?? -1;
  private readonly totals: { totalFiles?: number; totalBytes?: number };
  private progressBytes = 0;
  /** Trees seen so far, by the first 8 bytes of their id (see expand()). */
  private readonly seenTrees = new Set<string>();
  private distinctEntries = 0;
  private walkedEntries = 0;
  /** Set when the walk must stop; thrown once the files in flight have finished. */
  private stopped: BlindsyncError | undefined;

  constructor(
    private readonly options: RestoreOptions,
    private readonly target: Buffer,
    private readonly concurrency: number,
    wholeSnapshot: boolean,
    private readonly protection: Protection | undefined,
  ) {
    const stats = options.snapshot.stats;
    this.totals =
      wholeSnapshot && stats !== undefined && stats.files > 0
        ? { totalFiles: stats.files, totalBytes: stats.bytes }
        : {};
  }

  /** The path as the user knows it: relative to the target, escaped for display. */
  private show(path: Buffer): string {
    if (path.equals(this.target)) return ".";
    return displayBytes(path.subarray(this.target.length + 1));
  }

  /** Counts and warns one thing not restored; `error` tells a refusal from other causes. */
  private fail(message: string, error?: unknown): void {
    this.result.errors++;
    if (error instanceof ProtectedRefusal) this.result.refused++;
    this.options.sink.warn(message);
  }

  private halted(): boolean {
    return this.stopped !== undefined;
  }

  /**
   * Counts a tree about to be walked; false, with `stopped` set, once shared subtrees have
   * expanded past the bound (EXPANSION_FACTOR). Ids are compared by their first 8 bytes: a
   * collision can only make two trees count as one, which makes the bound stricter, never looser.
   */
  private expand(id: Uint8Array, tree: Tree): boolean {
    const size = 1 + tree.entries.length;
    this.walkedEntries += size;
    const key = nameKey(id.subarray(0, 8));
    if (!this.seenTrees.has(key)) {
      this.seenTrees.add(key);
      this.distinctEntries += size;
    }
    if (
      this.walkedEntries > EXPANSION_FLOOR &&
      this.walkedEntries > EXPANSION_FACTOR * this.distinctEntries
    ) {
      this.stopped ??= new BlindsyncError(
        "integrity",
        `Restore stopped: the snapshot's directory trees expand to more than ${this.walkedEntries} entries ` +
          `from ${this.distinctEntries} distinct ones, which no backup makes (a forged snapshot that repeats subtrees)`,
        {
          hint: "The files restored so far were verified. Restore another snapshot, and forget this one",
        },
      );
      return false;
    }
    return true;
  }

  private report(): void {
    this.options.sink.progress({
      files: this.result.files,
      bytes: this.progressBytes,
      ...this.totals,
    });
  }

  /** A fresh name in `dir`: unguessable prefix per restore, a counter per file. */
  private tempPath(dir: Buffer): Buffer {
    return joinPath(
      dir,
      Buffer.from(`.blindsync-${this.tempPrefix}-${this.tempCount++}.tmp`),
    );
  }

  private assertInside(path: Buffer): void {
    // Every path is built from the target and checked single names, so this cannot fire; it is
    // the last line of defence for the operations that delete or replace.
    if (!isInside(this.target, path) || path.equals(this.target)) {
      throw new Error(
        `Internal error: "${displayBytes(path)}" is outside the restore target`,
      );
    }
  }

  async run(
    root: Tree,
    selection: Selection,
    includes: IncludeNode | undefined,
  ): Promise<void> {
    const targetStats = lstatSync(this.target, { bigint: true });
    await this.walk(root, this.options.snapshot.tree, this.target, selection, {
      fresh: false,
      setgid: (Number(targetStats.mode) & S_ISGID) !== 0,
      identity: identityOf(targetStats),
    });
    await this.drain();
    if (this.stopped !== undefined) throw this.stopped;
    for (const link of this.symlinks)
      this.restoreSymlink(link.path, link.entry);
    // Reverse pre-order puts every directory after all of its descendants: deepest first.
    for (let index = this.dirs.length - 1; index >= 0; index--) {
      const dir = this.dirs[index];
      if (dir !== undefined) this.applyDirMetadata(dir.path, dir.entry);
    }
    if (includes !== undefined) this.reportUnmatched(includes);
    this.report();
  }

  private reportUnmatched(node: IncludeNode): void {
    if (node.whole !== undefined && !node.matched) {
      this.fail(`Cannot restore "${node.whole}": it is not in the snapshot`);
    }
    for (const child of node.children.values()) this.reportUnmatched(child);
  }

  private async walk(
    tree: Tree,
    treeId: Uint8Array,
    dirPath: Buffer,
    selection: Selection,
    state: DirState,
  ): Promise<void> {
    if (this.halted() || !this.expand(treeId, tree)) return;
    if (selection === "all" && this.options.delete === true)
      await this.deleteExtras(tree, dirPath, state);
    // The subdirectories' trees are fetched together up front: over ssh that is one pipelined
    // burst instead of one round trip per directory.
    const subtrees = new Map<TreeEntry, Promise<Tree>>();
    for (const entry of tree.entries) {
      if (entry.type !== "dir" || subtrees.size >= TREES_AHEAD) continue;
      if (selection !== "all" && !selection.children.has(nameKey(entry.name)))
        continue;
      const loading = this.options.repo.loadTree(entry.subtree);
      loading.catch(() => undefined);
      subtrees.set(entry, loading);
    }
    for (const entry of tree.entries) {
      // A deeper walk may have stopped the restore while this one awaited it.
      if (this.halted()) return;
      // Checked again on purpose: decodeTree refuses these too, but restore must not rely on it.
      if (!isSingleName(entry.name) || !isSafeName(entry.name)) {
        this.fail(
          `Refusing an entry with an unsafe name "${displayBytes(entry.name)}" in "${this.show(dirPath)}"`,
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
        this.fail(
          `Refusing to restore "${this.show(path)}": ${refusal.message}`,
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
          this.symlinks.push({ path, entry });
          break;
        case "file":
          await this.scheduleFile(entry, path, state.fresh);
          break;
      }
    }
  }

  private async restoreDir(
    entry: DirEntry,
    path: Buffer,
    selection: Selection,
    parent: DirState,
    loading: Promise<Tree> = this.options.repo.loadTree(entry.subtree),
  ): Promise<void> {
    let tree: Tree;
    try {
      tree = await loading;
    } catch (error) {
      this.fail(
        `Cannot restore directory "${this.show(path)}": its tree ${toHex(entry.subtree)} cannot be read (${describeError(error)})`,
      );
      return;
    }
    const state = this.ensureDir(path, parent);
    if (state === undefined) return;
    this.result.dirs++;
    this.dirs.push({ path, entry });
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
      if (existing.isDirectory()) {
        return {
          fresh: false,
          setgid: (Number(existing.mode) & S_ISGID) !== 0,
          identity: identityOf(existing),
        };
      }
      const what = existing.isSymbolicLink()
        ? "a symlink"
        : "a file that is not a directory";
      if (this.options.delete !== true) {
        this.fail(
          `Refusing to restore directory "${this.show(path)}": the target has ${what} there, which is never followed (restore with --delete to replace it)`,
        );
        return undefined;
      }
      this.removeInTheWay(path);
      mkdirSync(path, 0o700);
      return created;
    } catch (error) {
      this.fail(
        `Cannot create directory "${this.show(path)}": ${describeError(error)}`,
        error,
      );
      return undefined;
    }
  }

  /**
   * With `delete`: removes what the target has in this directory and the snapshot does not,
   * except protected paths, which are kept with the directories that hold them.
   */
  private async deleteExtras(
    tree: Tree,
    dirPath: Buffer,
    state: DirState,
  ): Promise<void> {
    const wanted = new Set(tree.entries.map((entry) => nameKey(entry.name)));
    let present: Buffer[];
    try {
      present = await fsp.readdir(dirPath, { encoding: "buffer" });
    } catch (error) {
      this.fail(
        `Cannot list "${this.show(dirPath)}" to delete extra entries: ${describeError(error)}`,
      );
      return;
    }
    for (const name of present) {
      if (wanted.has(nameKey(name)) || !isSingleName(name)) continue;
      const path = joinPath(dirPath, name);
      try {
        if (this.removeTree(path, state.identity)) this.result.deleted++;
      } catch (error) {
        this.fail(
          `Cannot delete "${this.show(path)}": ${describeError(error)}`,
        );
      }
    }
  }

  /**
   * rm -r that never follows a symlink and never leaves the target. A protected path is kept,
   * unread, and so is every directory above it (with a warning naming it); true when `path` is
   * gone. `dirIdentity`: the identity of the directory holding `path`, when known.
   */
  private removeTree(path: Buffer, dirIdentity?: string): boolean {
    this.assertInside(path);
    const stats = lstatOrUndefined(path);
    if (stats === undefined) return true;
    const guarded = this.protection?.protects(
      dirIdentity,
      lastName(path),
      stats,
    );
    if (guarded !== undefined) {
      this.options.sink.warn(
        `Kept "${this.show(path)}": ${new ProtectedRefusal(guarded).message}`,
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
    // Kept for what it holds: what went from it counts, as deleteExtras counts a whole directory.
    this.result.deleted += removed;
    return false;
  }

  /**
   * Removes what stands where the snapshot has something else (with `delete`); refuses, before
   * removing anything, when that is or holds a protected path.
   */
  private removeInTheWay(path: Buffer): void {
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
  }

  /** Renames a finished temporary file or link over `path`; a directory there needs `delete`. */
  private replace(temp: Buffer, path: Buffer): void {
    this.assertInside(path);
    try {
      renameSync(temp, path);
    } catch (error) {
      const code = errnoCode(error);
      if (code !== "EISDIR" && code !== "ENOTEMPTY" && code !== "EEXIST")
        throw error;
      if (this.options.delete !== true) {
        throw new EntryFailure(
          "the target has a directory there (restore with --delete to replace it)",
        );
      }
      const existing = lstatSync(path);
      if (!existing.isDirectory()) throw error;
      this.removeInTheWay(path);
      renameSync(temp, path);
    }
  }

  /**
   * Starts `job` once fewer than `concurrency` files are in flight and their weights (the bytes
   * of blobs each may hold at once) leave room for this one. A file heavier than the whole
   * budget still runs, alone.
   */
  private async schedule(
    weight: number,
    job: () => Promise<void>,
  ): Promise<void> {
    while (
      this.running.size > 0 &&
      (this.running.size >= this.concurrency ||
        this.weightInFlight + weight > BYTES_IN_FLIGHT)
    ) {
      await Promise.race(this.running);
    }
    this.weightInFlight += weight;
    const task: Promise<void> = this.guard(job).then(() => {
      this.weightInFlight -= weight;
      this.running.delete(task);
    });
    this.running.add(task);
  }

  /** Runs a job so that it never rejects: the pool must not lose a failure or leak a rejection. */
  private async guard(job: () => Promise<void>): Promise<void> {
    try {
      await job();
    } catch (error) {
      this.fail(`Restore failed unexpectedly: ${describeError(error)}`);
    }
  }

  private async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  private async scheduleFile(
    entry: FileEntry,
    path: Buffer,
    fresh: boolean,
  ): Promise<void> {
    const weight = Math.min(entry.size, BLOBS_AHEAD * MAX_BLOB_BYTES);
    const hardlink = entry.hardlink;
    if (hardlink === undefined) {
      await this.schedule(weight, async () => {
        await this.restoreFile(entry, path, fresh);
      });
      return;
    }
    const key = `${hardlink.dev}:${hardlink.ino}`;
    const source = this.links.get(key);
    if (source === undefined) {
      let settle: (path: Buffer | undefined) => void = () => undefined;
      const done = new Promise<Buffer | undefined>(
        (resolve) => (settle = resolve),
      );
      this.links.set(key, { entry, done });
      await this.schedule(weight, async () => {
        let ok = false;
        try {
          ok = await this.restoreFile(entry, path, fresh);
        } finally {
          settle(ok ? path : undefined);
        }
      });
      return;
    }
    // The first entry was scheduled earlier, so it holds a slot and cannot wait on this one.
    await this.schedule(0, async () => {
      const firstPath = await source.done;
      // A hostile tree may give unrelated files one (dev, ino): link only when content agrees.
      const sameContent =
        source.entry.size === entry.size &&
        asBuffer(source.entry.sha256).equals(entry.sha256);
      if (
        firstPath !== undefined &&
        sameContent &&
        this.linkFile(firstPath, path)
      )
        return;
      await this.restoreFile(entry, path, fresh);
    });
  }

  /** Creates `path` as a hardlink of `firstPath` (both inside the target); false to copy instead. */
  private linkFile(firstPath: Buffer, path: Buffer): boolean {
    this.assertInside(firstPath);
    this.assertInside(path);
    const temp = this.tempPath(parentPath(path));
    try {
      const first = lstatSync(firstPath, { bigint: true });
      const existing = lstatOrUndefined(path);
      if (
        existing?.isFile() === true &&
        existing.ino === first.ino &&
        existing.dev === first.dev
      ) {
        this.result.files++;
        this.result.skippedIdentical++;
        this.report();
        return true;
      }
      linkSync(firstPath, temp);
      this.replace(temp, path);
      this.result.files++;
      this.report();
      return true;
    } catch {
      unlinkQuietly(temp);
      return false;
    }
  }

  /**
   * Restores one regular file; returns true when it is in place and verified. The file system
   * calls are synchronous on purpose: for small files a thread-pool round trip per call cost
   * more than the call (docs/performance.md), and the blob fetches stay asynchronous, so other
   * files' data keeps arriving while this one is written. In a `fresh` directory there is
   * nothing to check in place, and the owner needs setting only when it is not ours.
   */
  private async restoreFile(
    entry: FileEntry,
    path: Buffer,
    fresh: boolean,
  ): Promise<boolean> {
    try {
      if (!fresh && this.keepIdentical(entry, path)) {
        this.result.files++;
        this.result.skippedIdentical++;
        this.report();
        return true;
      }
    } catch (error) {
      this.fail(
        `Cannot restore "${this.show(path)}": ${describeError(error)}`,
        error,
      );
      return false;
    }
    const temp = this.tempPath(parentPath(path));
    let fd: number | undefined;
    try {
      // Fetching starts before the file is created, so a failed fetch leaves nothing to undo.
      const content = this.fetchContent(entry);
      fd = openSync(temp, WRITE_FLAGS, 0o600);
      await this.writeContent(fd, entry, content);
      if (this.options.fsync === true) fsyncSync(fd);
      // chown before chmod: chown clears the setuid and setgid bits.
      const ours = fresh && entry.uid === this.uid && entry.gid === this.gid;
      if (this.isRoot && !ours) fchownSync(fd, entry.uid, entry.gid);
      fchmodSync(fd, entry.mode & MODE_MASK);
      setTimes(temp, entry.mtimeNs, fd);
      closeSync(fd);
      fd = undefined;
      this.replace(temp, path);
    } catch (error) {
      if (fd !== undefined) closeQuietly(fd);
      unlinkQuietly(temp);
      this.fail(
        `Cannot restore "${this.show(path)}": ${describeError(error)}`,
        error,
      );
      return false;
    }
    this.result.files++;
    this.result.bytes += entry.size;
    this.report();
    return true;
  }

  /**
   * The file's data blobs in order, each fetched at most BLOBS_AHEAD ahead of the one being
   * written, so a large file does not wait one round trip per chunk.
   */
  private fetchContent(
    entry: FileEntry,
  ): Iterator<[Uint8Array, Promise<Uint8Array>]> {
    const ids = entry.content;
    const repo = this.options.repo;
    const queue: [Uint8Array, Promise<Uint8Array>][] = [];
    let next = 0;
    const refill = (): void => {
      while (queue.length < BLOBS_AHEAD && next < ids.length) {
        const id = ids[next++] as Uint8Array;
        // The whole file's SHA-256 is verified below, so the per-blob id check would only hash
        // the same bytes a second time (docs/threat-model.md).
        const loading = repo.load("data", id, { checkId: false });
        // Handled here so that a fetch left behind by an earlier failure is never "unhandled".
        loading.catch(() => undefined);
        queue.push([id, loading]);
      }
    };
    refill();
    return {
      next: () => {
        const head = queue.shift();
        refill();
        return head === undefined
          ? { done: true, value: undefined }
          : { done: false, value: head };
      },
    };
  }

  /** Writes and verifies the content; throws EntryFailure naming the problem. */
  private async writeContent(
    fd: number,
    entry: FileEntry,
    content: Iterator<[Uint8Array, Promise<Uint8Array>]>,
  ): Promise<void> {
    const hash = createHash("sha256");
    let position = 0;
    let writtenEnd = 0;
    for (let item = content.next(); item.done !== true; item = content.next()) {
      const [id, loading] = item.value;
      let chunk: Buffer;
      try {
        chunk = asBuffer(await loading);
      } catch (error) {
        throw new EntryFailure(describeBlobFailure(id, error));
      }
      if (position + chunk.length > entry.size) {
        throw new EntryFailure(
          `its data is longer than the recorded size of ${entry.size} bytes`,
        );
      }
      hash.update(chunk);
      writtenEnd = writeSparse(fd, chunk, position);
      position += chunk.length;
      this.progressBytes += chunk.length;
      this.report();
    }
    if (position !== entry.size) {
      throw new EntryFailure(
        `its data has ${position} bytes where the snapshot records ${entry.size}`,
      );
    }
    if (!hash.digest().equals(entry.sha256)) {
      throw new EntryFailure(
        "its content does not match the SHA-256 the snapshot records",
      );
    }
    // Only a file that ends in a hole needs its size set: the temporary file started empty.
    if (writtenEnd !== entry.size) ftruncateSync(fd, entry.size);
  }

  /**
   * The in-place check. A regular file (never a symlink) with the same size and mtime is read
   * and hashed, and kept only when its SHA-256 matches too; rsync trusts size and mtime alone,
   * but a local read is far cheaper than fetching and decrypting, and the snapshot's hash makes
   * the skip as safe as a rewrite. Its owner and mode are fixed; its mtime already matches.
   */
  private keepIdentical(entry: FileEntry, path: Buffer): boolean {
    const existing = lstatOrUndefined(path);
    if (existing?.isFile() !== true || existing.size !== BigInt(entry.size))
      return false;
    if (
      existing.mtimeNs !== entry.mtimeNs &&
      existing.mtimeNs !== restoredMtimeNs(entry.mtimeNs)
    ) {
      return false;
    }
    let fd: number;
    try {
      fd = openSync(path, READ_FLAGS);
    } catch {
      return false;
    }
    try {
      const stats = fstatSync(fd, { bigint: true });
      if (
        !stats.isFile() ||
        stats.ino !== existing.ino ||
        stats.dev !== existing.dev
      )
        return false;
      // A file with other links may share its inode with something outside the target (a
      // planted hardlink): fixing its owner or mode in place would change that too. Rewrite it.
      if (stats.nlink !== 1n) return false;
      const hash = createHash("sha256");
      const buffer = Buffer.allocUnsafe(
        Math.min(READ_BLOCK, Math.max(1, entry.size)),
      );
      let total = 0;
      for (;;) {
        const bytesRead = readSync(fd, buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        hash.update(buffer.subarray(0, bytesRead));
        total += bytesRead;
        if (total > entry.size) return false;
      }
      if (total !== entry.size || !hash.digest().equals(entry.sha256))
        return false;
      if (this.isRoot) fchownSync(fd, entry.uid, entry.gid);
      fchmodSync(fd, entry.mode & MODE_MASK);
      return true;
    } finally {
      closeSync(fd);
    }
  }

  private restoreSymlink(path: Buffer, entry: SymlinkEntry): void {
    const temp = this.tempPath(parentPath(path));
    try {
      symlinkSync(asBuffer(entry.target), temp);
      if (this.isRoot) lchownSync(temp, entry.uid, entry.gid);
      setTimes(temp, entry.mtimeNs);
      this.replace(temp, path);
      this.result.symlinks++;
    } catch (error) {
      unlinkQuietly(temp);
      this.fail(
        `Cannot restore symlink "${this.show(path)}": ${describeError(error)}`,
        error,
      );
    }
  }

  /** Owner, mode and mtime of a directory, through a descriptor opened without following. */
  private applyDirMetadata(path: Buffer, entry: DirEntry): void {
    let fd: number | undefined;
    try {
      fd = openSync(path, DIR_FLAGS);
      if (this.isRoot) fchownSync(fd, entry.uid, entry.gid);
      fchmodSync(fd, entry.mode & MODE_MASK);
      setTimes(path, entry.mtimeNs, fd);
    } catch (error) {
      this.fail(
        `Cannot set the metadata of directory "${this.show(path)}": ${describeError(error)}`,
      );
    } finally {
      if (fd !== undefined) closeQuietly(fd);
    }
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Nothing useful to do: the descriptor is gone either way.
  }
}

function unlinkQuietly(path: Buffer): void {
  try {
    unlinkSync(path);
  } catch {
    // Cleanup of a temporary name that may never have been created.
  }
}

/** Creates the target (mkdir -p) and returns its real path; every failure here is fatal. */
async function prepareTarget(target: string): Promise<Buffer> {
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

/**
 * Restores `snapshot` into `target`. Per-entry problems (a missing or damaged blob, a damaged
 * tree, an unsafe name, something in the way) are warned through the sink and counted in
 * `errors`; restore goes on with everything else. Throws only when nothing can be done: an
 * unusable target ('failed'), a root tree that cannot be read, or a bad include path ('usage').
 */
export async function restoreSnapshot(
  options: RestoreOptions,
): Promise<RestoreResult> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Restore concurrency must be a positive integer, not ${concurrency}`,
    );
  }
  const includes = parseIncludes(options.include);
  let root: Tree;
  try {
    root = await options.repo.loadTree(options.snapshot.tree);
  } catch (error) {
    if (isBlindsyncError(error)) throw error;
    throw new BlindsyncError(
      "failed",
      `Cannot read the snapshot's root tree: ${describeError(error)}`,
      {
        cause: error,
      },
    );
  }
  const protection =
    options.protect === undefined || options.protect.length === 0
      ? undefined
      : new Protection(options.protect);
  protection?.checkTarget(options.target);
  const target = await prepareTarget(options.target);
  const restorer = new Restorer(
    options,
    target,
    concurrency,
    includes === undefined,
    protection,
  );
  await restorer.run(root, includes ?? "all", includes);
  return restorer.result;
}
