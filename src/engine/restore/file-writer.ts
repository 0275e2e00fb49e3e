/**
 * Writes one regular file: fetches its data blobs a few ahead, writes them to a fresh temporary
 * name in the file's directory (O_CREAT|O_EXCL|O_NOFOLLOW), keeping holes, verifies the size and
 * the SHA-256 the snapshot records, sets owner, mode and mtime, and only then renames it over
 * the final name (rename() replaces a symlink there; it never follows it). On any failure the
 * temporary file is removed, so nothing unverified ever appears under a real name.
 *
 * A file of at most BLOBS_AHEAD blobs in a directory this restore created (most files of a
 * tree of small files) takes a shorter way that keeps the same promise: its blobs are all held
 * at once anyway, so its size and SHA-256 are verified in memory before any name exists, and
 * the verified bytes are written straight to the real name (O_CREAT|O_EXCL|O_NOFOLLOW, so only
 * a name nobody else made), with its final mode when no chown or umask stands in the way. That
 * spares the temporary name, the rename and usually the fchmod: six system calls per small
 * file become four, and with the native addon those four run in batches on the thread pool
 * (file-batch.ts) instead of on this thread (docs/performance.md, "Restore of many small
 * files").
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  constants as fsConstants,
  fchmodSync,
  fchownSync,
  fsyncSync,
  ftruncateSync,
  openSync,
} from "node:fs";
import { describeError } from "../../errors.js";
import { DEFAULT_CHUNKER_PARAMS } from "../../chunker/index.js";
import { MODE_MASK, type FileEntry } from "../../repo/index.js";
import { parentPath } from "../fs-names.js";
import type { Deletion } from "./deletion.js";
import { describeBlobFailure, EntryFailure } from "./failures.js";
import { FileBatcher, type BatchedFile } from "./file-batch.js";
import { asBuffer, closeQuietly, unlinkQuietly, type Owner } from "./fs-ops.js";
import { keepIdentical } from "./in-place.js";
import { HOLE_BLOCK, isAllZero, writeSparse } from "./sparse.js";
import type { Tally } from "./tally.js";
import type { Target } from "./target.js";
import { setTimes } from "./times.js";
import type { RestoreRepository } from "./types.js";

/** Data blobs of one file fetched ahead of the one being written. */
const BLOBS_AHEAD = 3;
/** The chunker's usual largest blob; a file may hold BLOBS_AHEAD of them at once. */
const MAX_BLOB_BYTES = DEFAULT_CHUNKER_PARAMS.maxSize;

const EMPTY = Buffer.alloc(0);

/** setuid, setgid, sticky: applied by fchmod after any chown, never through open's mode. */
const SPECIAL_BITS = 0o7000;

const WRITE_FLAGS =
  fsConstants.O_WRONLY |
  fsConstants.O_CREAT |
  fsConstants.O_EXCL |
  fsConstants.O_NOFOLLOW;

type Content = Iterator<[Uint8Array, Promise<Uint8Array>]>;

/** The bytes of fetched blobs a file holds at once while it is written (FilePool's weight). */
export function fileWeight(entry: FileEntry): number {
  return Math.min(entry.size, BLOBS_AHEAD * MAX_BLOB_BYTES);
}

export class FileWriter {
  /** Writes small verified files in the thread pool, where the addon can (file-batch.ts). */
  private readonly batcher: FileBatcher | undefined;

  constructor(
    private readonly repo: RestoreRepository,
    private readonly target: Target,
    private readonly tally: Tally,
    private readonly deletion: Deletion,
    private readonly owner: Owner,
    private readonly fsync: boolean,
    /** False to write every file on this thread (tests of that way, where the addon exists). */
    batch = true,
  ) {
    this.batcher = batch ? FileBatcher.create(fsync) : undefined;
  }

  /**
   * Restores one regular file; returns true when it is in place and verified, false when it
   * failed (already warned and counted). The file system calls are synchronous on purpose: for
   * small files a thread-pool round trip per call cost more than the call
   * (docs/performance.md), and the blob fetches stay asynchronous, so other files' data keeps
   * arriving while this one is written. (Small files in fresh directories go to the thread
   * pool after all, but in batches: one round trip for dozens of files, file-batch.ts.) In a `fresh` directory (created by this restore) there
   * is nothing to check in place, and the owner needs setting only when it is not ours.
   */
  async write(
    entry: FileEntry,
    path: Buffer,
    fresh: boolean,
  ): Promise<boolean> {
    if (fresh && entry.content.length <= BLOBS_AHEAD)
      return this.writeVerifiedFirst(entry, path);
    try {
      if (!fresh && keepIdentical(entry, path, this.owner.isRoot)) {
        this.tally.fileKept();
        return true;
      }
    } catch (error) {
      this.tally.fail(
        `Cannot restore "${this.target.show(path)}": ${describeError(error)}`,
        error,
      );
      return false;
    }
    const temp = this.target.tempPath(parentPath(path));
    let fd: number | undefined;
    try {
      // Fetching starts before the file is created, so a failed fetch leaves nothing to undo.
      const content = this.fetchContent(entry);
      fd = openSync(temp, WRITE_FLAGS, 0o600);
      await this.writeContent(fd, entry, content);
      this.finishFile(fd, temp, entry, fresh, false);
      closeSync(fd);
      fd = undefined;
      this.deletion.replace(temp, path);
    } catch (error) {
      if (fd !== undefined) closeQuietly(fd);
      unlinkQuietly(temp);
      this.tally.fail(
        `Cannot restore "${this.target.show(path)}": ${describeError(error)}`,
        error,
      );
      return false;
    }
    this.tally.fileWritten(entry.size);
    return true;
  }

  /**
   * The shorter way for a file of at most BLOBS_AHEAD blobs in a directory this restore created
   * (see the top of this file): every blob fetched and the whole content verified before the
   * real name is created, then written there. On a failure after creating it (a full disk) the
   * name is removed again: it was made by this call (O_EXCL) in a directory made by this
   * restore, so it holds nothing of the user's.
   */
  private async writeVerifiedFirst(
    entry: FileEntry,
    path: Buffer,
  ): Promise<boolean> {
    let fd: number | undefined;
    let created = false;
    try {
      const chunks = await this.fetchVerified(entry);
      const mode = this.creationMode(entry);
      if (this.batcher !== undefined && entry.size <= HOLE_BLOCK) {
        const failure = await this.batcher.write(
          this.batched(entry, path, chunks, mode),
        );
        if (failure !== undefined) throw failure;
        this.tally.bytesWritten(entry.size);
        this.tally.fileWritten(entry.size);
        return true;
      }
      fd = openSync(path, WRITE_FLAGS, mode ?? 0o600);
      created = true;
      let position = 0;
      let writtenEnd = 0;
      for (const chunk of chunks) {
        writtenEnd = writeSparse(fd, chunk, position);
        position += chunk.length;
        this.tally.bytesWritten(chunk.length);
      }
      if (writtenEnd !== entry.size) ftruncateSync(fd, entry.size);
      this.finishFile(fd, path, entry, true, mode !== undefined);
      closeSync(fd);
      fd = undefined;
    } catch (error) {
      if (fd !== undefined) closeQuietly(fd);
      if (created) unlinkQuietly(path);
      this.tally.fail(
        `Cannot restore "${this.target.show(path)}": ${describeError(error)}`,
        error,
      );
      return false;
    }
    this.tally.fileWritten(entry.size);
    return true;
  }

  /**
   * A file of at most one hole block for the batcher: a file that small is one block, so it is
   * all a hole (written as nothing, then sized) or all written, as writeSparse would have it.
   */
  private batched(
    entry: FileEntry,
    path: Buffer,
    chunks: readonly Buffer[],
    mode: number | undefined,
  ): BatchedFile {
    const content = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const chown = this.owner.isRoot && !this.isOurs(entry, true);
    return {
      path,
      content: content === undefined || isAllZero(content) ? EMPTY : content,
      size: entry.size,
      openMode: mode ?? 0o600,
      chmodMode: mode === undefined ? entry.mode & MODE_MASK : -1,
      uid: chown ? entry.uid : -1,
      gid: chown ? entry.gid : -1,
      mtimeNs: entry.mtimeNs,
    };
  }

  /**
   * The mode to create a file with so that it needs no fchmod: its permission bits, when they
   * survive the umask as they are and no chown is due (chown clears the setuid and setgid
   * bits, so those are always set afterwards). Undefined: create it 0600 and fchmod later.
   */
  private creationMode(entry: FileEntry): number | undefined {
    const mode = entry.mode & MODE_MASK;
    if ((mode & SPECIAL_BITS) !== 0 || (mode & this.owner.umask) !== 0)
      return undefined;
    if (this.owner.isRoot && !this.isOurs(entry, true)) return undefined;
    return mode;
  }

  /** No chown needed: a new file in a `fresh` directory gets our own uid and gid. */
  private isOurs(entry: FileEntry, fresh: boolean): boolean {
    return (
      fresh && entry.uid === this.owner.uid && entry.gid === this.owner.gid
    );
  }

  /** fsync when asked, then owner, mode (unless already created with it) and mtime. */
  private finishFile(
    fd: number,
    path: Buffer,
    entry: FileEntry,
    fresh: boolean,
    modeSet: boolean,
  ): void {
    if (this.fsync) fsyncSync(fd);
    // chown before chmod: chown clears the setuid and setgid bits.
    if (this.owner.isRoot && !this.isOurs(entry, fresh))
      fchownSync(fd, entry.uid, entry.gid);
    if (!modeSet) fchmodSync(fd, entry.mode & MODE_MASK);
    setTimes(path, entry.mtimeNs, fd);
  }

  /**
   * Every data blob of a small file, fetched together, with their total size and SHA-256
   * checked against the snapshot; throws EntryFailure naming the problem.
   */
  private async fetchVerified(entry: FileEntry): Promise<Buffer[]> {
    const loads = entry.content.map((id) => {
      const loading = this.repo.load("data", id, { checkId: false });
      // Handled here so that a fetch left behind by an earlier failure is never "unhandled".
      loading.catch(() => undefined);
      return loading;
    });
    const hash = createHash("sha256");
    const chunks: Buffer[] = [];
    let size = 0;
    for (const [index, loading] of loads.entries()) {
      let chunk: Buffer;
      try {
        chunk = asBuffer(await loading);
      } catch (error) {
        throw new EntryFailure(
          describeBlobFailure(entry.content[index] as Uint8Array, error),
        );
      }
      size += chunk.length;
      if (size > entry.size) {
        throw new EntryFailure(
          `its data is longer than the recorded size of ${entry.size} bytes`,
        );
      }
      hash.update(chunk);
      chunks.push(chunk);
    }
    checkVerified(entry, size, hash.digest());
    return chunks;
  }

  /**
   * The file's data blobs in order, each fetched at most BLOBS_AHEAD ahead of the one being
   * written, so a large file does not wait one round trip per chunk.
   */
  private fetchContent(entry: FileEntry): Content {
    const ids = entry.content;
    const repo = this.repo;
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
    content: Content,
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
      this.tally.bytesWritten(chunk.length);
    }
    checkVerified(entry, position, hash.digest());
    // Only a file that ends in a hole needs its size set: the temporary file started empty.
    if (writtenEnd !== entry.size) ftruncateSync(fd, entry.size);
  }
}

/** Throws EntryFailure unless `size` and `sha256` are what the snapshot records for `entry`. */
function checkVerified(entry: FileEntry, size: number, sha256: Buffer): void {
  if (size !== entry.size) {
    throw new EntryFailure(
      `its data has ${size} bytes where the snapshot records ${entry.size}`,
    );
  }
  if (!sha256.equals(entry.sha256)) {
    throw new EntryFailure(
      "its content does not match the SHA-256 the snapshot records",
    );
  }
}
