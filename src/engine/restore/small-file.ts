/**
 * The way of a small file (at most BLOBS_AHEAD blobs, the most common file of a tree of small
 * files) once the overwrite policy says to write it: its blobs are all held at once anyway, so
 * its size and SHA-256 are verified in memory before anything is created; then, as for every
 * file, it is created under a temporary name (O_CREAT|O_EXCL|O_NOFOLLOW), written, given owner,
 * mode and mtime, and renamed onto its real name. A restore killed meanwhile leaves at most a
 * temporary name, which the next restore sweeps (Target.removeLeftovers), never a short file
 * under a real name.
 *
 * What makes it faster than the general way: the file is created with its final mode when the
 * umask keeps it (no fchmod), and with the native addon the files of up to one hole block are
 * written in batches on the thread pool (file-batch.ts: open, write, futimens, close and rename
 * per file, one call per batch) instead of one synchronous call after another on the main
 * thread, which also decrypts and hashes (docs/performance.md, "Restore of many small files").
 * Without the addon the same steps run here, synchronously, to the same result.
 */
import { constants as fsConstants, ftruncateSync, openSync } from "node:fs";
import { MODE_MASK, type FileEntry } from "../../repo/index.js";
import { BlobContentCheck } from "../content-check.js";
import { parentPath } from "../fs-names.js";
import type { Deletion } from "./deletion.js";
import {
  assertWholeFile,
  DamagedData,
  describeBlobFailure,
} from "./failures.js";
import { FileBatcher, type BatchedFile } from "./file-batch.js";
import { asBuffer, closeQuietly, unlinkQuietly, type Owner } from "./fs-ops.js";
import { HOLE_BLOCK, isAllZero, writeSparse } from "./sparse.js";
import type { Tally } from "./tally.js";
import type { Target } from "./target.js";
import { finishTemporary } from "./temp-file.js";
import type { RestoreRepository } from "./types.js";

const EMPTY = Buffer.alloc(0);

/** setuid, setgid, sticky: applied by fchmod after any chown, never through open's mode. */
const SPECIAL_BITS = 0o7000;

const CREATE_FLAGS =
  fsConstants.O_WRONLY |
  fsConstants.O_CREAT |
  fsConstants.O_EXCL |
  fsConstants.O_NOFOLLOW;

export class SmallFileWriter {
  /** Writes in the thread pool, where the addon can (file-batch.ts). */
  private readonly batcher: FileBatcher | undefined;

  constructor(
    private readonly repo: RestoreRepository,
    private readonly target: Target,
    private readonly tally: Tally,
    private readonly deletion: Deletion,
    private readonly owner: Owner,
    private readonly fsync: boolean,
    /** False to run every step on this thread (the way without the addon, for tests). */
    batch: boolean,
  ) {
    this.batcher = batch ? FileBatcher.create(fsync) : undefined;
  }

  /**
   * Verifies, writes and renames one small file onto `path`; throws (DamagedData for the
   * repository's data) with no temporary name left behind. `fresh`: `path` is in a directory
   * this restore created, so a file created there is already ours (no chown). Returns the
   * chunks' lengths, which `--verify` needs to read the file back chunk by chunk.
   */
  async write(
    entry: FileEntry,
    path: Buffer,
    fresh: boolean,
  ): Promise<number[]> {
    const { chunks, lengths } = await this.fetchVerified(entry);
    const mode = this.creationMode(entry, fresh);
    const temp = this.target.tempPath(parentPath(path));
    // rename() replaces a file or symlink at `path` and never follows one; what may stand
    // there was judged by the overwrite policy before this call (FileWriter.write).
    this.target.assertInside(path);
    if (this.batcher !== undefined && entry.size <= HOLE_BLOCK) {
      const failure = await this.batcher.write(
        this.batched(entry, temp, path, chunks, mode, fresh),
      );
      if (failure !== undefined) throw failure;
      this.tally.bytesWritten(entry.size);
      return lengths;
    }
    let fd: number | undefined;
    let created = false;
    try {
      fd = openSync(temp, CREATE_FLAGS, mode ?? 0o600);
      created = true;
      let position = 0;
      let writtenEnd = 0;
      for (const chunk of chunks) {
        writtenEnd = writeSparse(fd, chunk, position);
        position += chunk.length;
      }
      if (writtenEnd !== entry.size) ftruncateSync(fd, entry.size);
      const open = fd;
      fd = undefined;
      finishTemporary(
        open,
        temp,
        path,
        entry,
        {
          fsync: this.fsync,
          chown: this.needsChown(entry, fresh),
          chmod: mode === undefined,
        },
        this.deletion,
      );
    } catch (error) {
      if (fd !== undefined) closeQuietly(fd);
      // Only a name this call made: O_EXCL refused one that stood there, which stays.
      if (created) unlinkQuietly(temp);
      throw error;
    }
    this.tally.bytesWritten(entry.size);
    return lengths;
  }

  /**
   * A file of at most one hole block for the batcher: a file that small is one block, so it is
   * all a hole (written as nothing, then sized) or all written, as writeSparse would have it.
   */
  private batched(
    entry: FileEntry,
    temp: Buffer,
    path: Buffer,
    chunks: readonly Buffer[],
    mode: number | undefined,
    fresh: boolean,
  ): BatchedFile {
    const content = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const chown = this.needsChown(entry, fresh);
    return {
      temp,
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
  private creationMode(entry: FileEntry, fresh: boolean): number | undefined {
    const mode = entry.mode & MODE_MASK;
    if ((mode & SPECIAL_BITS) !== 0 || (mode & this.owner.umask) !== 0)
      return undefined;
    if (this.needsChown(entry, fresh)) return undefined;
    return mode;
  }

  /** A new file gets our uid and gid; only root can give it another, and must in an old directory (its group may differ). */
  private needsChown(entry: FileEntry, fresh: boolean): boolean {
    const ours =
      fresh && entry.uid === this.owner.uid && entry.gid === this.owner.gid;
    return this.owner.isRoot && !ours;
  }

  /**
   * Every data blob of the file, fetched together, with their total size and the whole-file
   * checksum checked against the snapshot (content-check.ts); throws DamagedData naming the
   * problem. An inline file's bytes came with its tree: nothing to fetch, the same check.
   */
  private async fetchVerified(
    entry: FileEntry,
  ): Promise<{ chunks: Buffer[]; lengths: number[] }> {
    if (entry.inline !== undefined) {
      const check = new BlobContentCheck(this.repo, entry, {
        idsChecked: false,
      });
      check.add(entry.inline);
      assertWholeFile(entry, entry.inline.length, check);
      return { chunks: [asBuffer(entry.inline)], lengths: check.lengths };
    }
    const loads = entry.content.map((id) => {
      // The content check below verifies the whole file (a SHA-256, or each chunk's id
      // recomputed for a checksum over chunk ids), so the load's own id check would only
      // hash the same bytes a second time (docs/threat-model.md).
      const loading = this.repo.load("data", id, { checkId: false });
      // Handled here so that a fetch left behind by an earlier failure is never "unhandled".
      loading.catch(() => undefined);
      return loading;
    });
    const check = new BlobContentCheck(this.repo, entry, { idsChecked: false });
    const chunks: Buffer[] = [];
    let size = 0;
    for (const [index, loading] of loads.entries()) {
      let chunk: Buffer;
      try {
        chunk = asBuffer(await loading);
      } catch (error) {
        throw new DamagedData(
          describeBlobFailure(entry.content[index] as Uint8Array, error),
        );
      }
      size += chunk.length;
      if (size > entry.size) {
        throw new DamagedData(
          `its data is longer than the recorded size of ${entry.size} bytes`,
        );
      }
      check.add(chunk);
      chunks.push(chunk);
    }
    assertWholeFile(entry, size, check);
    return { chunks, lengths: check.lengths };
  }
}
