/**
 * Writes one regular file: fetches its data blobs a few ahead, writes them to a fresh temporary
 * name in the file's directory (O_CREAT|O_EXCL|O_NOFOLLOW), keeping holes, verifies the size and
 * the whole-file checksum the snapshot records (content-check.ts), sets owner, mode and mtime, and only then renames it over
 * the final name (rename() replaces a symlink there; it never follows it). On any failure the
 * temporary file is removed, so nothing unverified ever appears under a real name. What already
 * stands at the name is first judged by the overwrite policy (overwrite.ts).
 *
 * A file of at most BLOBS_AHEAD blobs that the policy lets be written (most files of a tree of
 * small files) goes the same way in small-file.ts, verified in memory before its temporary name
 * is created and, with the native addon, written and renamed in batches on the thread pool.
 */
import {
  constants as fsConstants,
  ftruncateSync,
  openSync,
  type BigIntStats,
} from "node:fs";
import { describeError } from "../../errors.js";
import { DEFAULT_CHUNKER_PARAMS } from "../../chunker/index.js";
import type { FileEntry } from "../../repo/index.js";
import { BlobContentCheck } from "../content-check.js";
import { parentPath } from "../fs-names.js";
import type { Deletion } from "./deletion.js";
import {
  assertWholeFile,
  DamagedData,
  describeBlobFailure,
} from "./failures.js";
import {
  asBuffer,
  closeQuietly,
  lstatOrUndefined,
  unlinkQuietly,
  type Owner,
} from "./fs-ops.js";
import { keepIdentical } from "./in-place.js";
import { fateOf, type OverwritePolicy } from "./overwrite.js";
import { SmallFileWriter } from "./small-file.js";
import { writeSparseInPool } from "./sparse.js";
import type { Tally } from "./tally.js";
import type { Target } from "./target.js";
import { finishTemporary } from "./temp-file.js";
import type { RestoreRepository } from "./types.js";
import type { Verifier } from "./verify.js";

/** Data blobs of one file fetched ahead of the one being written. */
const BLOBS_AHEAD = 3;
/** The chunker's usual largest blob; a file may hold BLOBS_AHEAD of them at once. */
const MAX_BLOB_BYTES = DEFAULT_CHUNKER_PARAMS.maxSize;

const WRITE_FLAGS =
  fsConstants.O_WRONLY |
  fsConstants.O_CREAT |
  fsConstants.O_EXCL |
  fsConstants.O_NOFOLLOW;

type Content = Iterator<[Uint8Array, Promise<Uint8Array>]>;

/**
 * The bytes of fetched blobs a file holds at once while it is written (FilePool's weight): the
 * blobs fetched ahead. A large file also holds the blob being opened and the one being written
 * (writeContent), a few MiB per large file in flight that the weight leaves out, as it did the
 * one being written before writes moved to the thread pool.
 */
export function fileWeight(entry: FileEntry): number {
  return Math.min(entry.size, BLOBS_AHEAD * MAX_BLOB_BYTES);
}

/** How files are written, the same for every file of one restore. */
export interface WriteSettings {
  /** fsync each file before its rename (RestoreOptions.fsync). */
  readonly fsync: boolean;
  readonly overwrite: OverwritePolicy;
  /** Decide and count, write nothing (RestoreOptions.dryRun). */
  readonly dryRun: boolean;
  /** Hears every file renamed into place, to read it back at the end (`--verify`). */
  readonly verifier: Verifier | undefined;
}

export class FileWriter {
  private readonly small: SmallFileWriter;

  constructor(
    private readonly repo: RestoreRepository,
    private readonly target: Target,
    private readonly tally: Tally,
    private readonly deletion: Deletion,
    private readonly owner: Owner,
    readonly settings: WriteSettings,
    /** False to write small files without the addon's batches even where it has them (tests). */
    batch = true,
  ) {
    this.small = new SmallFileWriter(
      repo,
      target,
      tally,
      deletion,
      owner,
      settings.fsync,
      batch,
    );
  }

  /**
   * Restores one regular file; returns true when it is in place and verified, false when it
   * failed (already warned and counted) or the overwrite policy left another file there. The
   * file system calls are synchronous on purpose: for small files a thread-pool round trip per
   * call cost more than the call (docs/performance.md), and the blob fetches stay asynchronous,
   * so other files' data keeps arriving while this one is written. In a `fresh` directory
   * (created by this restore) there is nothing to check in place, and the owner needs setting
   * only when it is not ours.
   */
  async write(
    entry: FileEntry,
    path: Buffer,
    fresh: boolean,
  ): Promise<boolean> {
    let action: "create" | "overwrite" = "create";
    let existing: BigIntStats | undefined;
    try {
      if (!fresh) {
        existing = lstatOrUndefined(path);
        const fate = fateOf(this.settings.overwrite, entry.mtimeNs, existing);
        if (fate === "keep") {
          this.tally.fileLeft(this.target.show(path));
          return false;
        }
        if (existing !== undefined) {
          if (
            this.settings.overwrite === "if-changed" &&
            keepIdentical(
              this.repo,
              entry,
              path,
              existing,
              this.owner.isRoot,
              this.settings.dryRun,
            )
          ) {
            this.tally.fileKept(this.target.show(path));
            return true;
          }
          action = "overwrite";
          // What replace() would meet at the rename, foreseen: a directory there needs --delete.
          if (this.settings.dryRun && existing.isDirectory())
            this.deletion.replaceDirectory(path);
        }
      }
    } catch (error) {
      this.tally.fail(
        `Cannot restore "${this.target.show(path)}": ${describeError(error)}`,
        error,
      );
      return false;
    }
    if (this.settings.dryRun) {
      this.tally.fileWritten(entry.size, action, () => this.target.show(path));
      return true;
    }
    // A directory in the way goes through Deletion.replace's checks on the general way.
    if (
      entry.content.length <= BLOBS_AHEAD &&
      existing?.isDirectory() !== true
    ) {
      let lengths: number[];
      try {
        lengths = await this.small.write(entry, path, fresh);
      } catch (error) {
        this.tally.fail(
          `Cannot restore "${this.target.show(path)}": ${describeError(error)}`,
          error,
        );
        return false;
      }
      this.tally.fileWritten(entry.size, action, () => this.target.show(path));
      this.settings.verifier?.add(path, entry, lengths);
      return true;
    }
    const temp = this.target.tempPath(parentPath(path));
    let fd: number | undefined;
    let created = false;
    let lengths: number[];
    try {
      // Fetching starts before the file is created, so a failed fetch leaves nothing to undo.
      const content = this.fetchContent(entry);
      fd = openSync(temp, WRITE_FLAGS, 0o600);
      created = true;
      lengths = await this.writeContent(fd, entry, content);
      const ours =
        fresh && entry.uid === this.owner.uid && entry.gid === this.owner.gid;
      const open = fd;
      fd = undefined;
      finishTemporary(
        open,
        temp,
        path,
        entry,
        {
          fsync: this.settings.fsync,
          chown: this.owner.isRoot && !ours,
          chmod: true,
        },
        this.deletion,
      );
    } catch (error) {
      if (fd !== undefined) closeQuietly(fd);
      // Only a name this call made: O_EXCL refused one that stood there, which stays.
      if (created) unlinkQuietly(temp);
      this.tally.fail(
        `Cannot restore "${this.target.show(path)}": ${describeError(error)}`,
        error,
      );
      return false;
    }
    this.tally.fileWritten(entry.size, action, () => this.target.show(path));
    this.settings.verifier?.add(path, entry, lengths);
    return true;
  }

  /**
   * The file's data blobs in order, each fetched at most BLOBS_AHEAD ahead of the one being
   * written, so a large file does not wait one round trip per chunk.
   */
  private fetchContent(entry: FileEntry): Content {
    const ids = entry.content;
    const repo = this.repo;
    // An inline file (here only when a directory stands in its way) is its one piece, at
    // hand: no blob and so no id, and nothing that could fail to load.
    const queue: [Uint8Array, Promise<Uint8Array>][] =
      entry.inline === undefined
        ? []
        : [[new Uint8Array(0), Promise.resolve(entry.inline)]];
    let next = 0;
    const refill = (): void => {
      while (queue.length < BLOBS_AHEAD && next < ids.length) {
        const id = ids[next++] as Uint8Array;
        // The whole file's checksum is verified below, recomputing each chunk's id where it is
        // a checksum over them, so the per-blob id check would only hash the same bytes a
        // second time (docs/threat-model.md).
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

  /**
   * Writes and verifies the content; throws DamagedData naming the problem. Returns the chunks'
   * lengths, which `--verify` needs to read the file back chunk by chunk. Each chunk is written
   * on the thread pool while the next one is opened and hashed here, one write in flight at a
   * time (so the file's writes stay in order and its memory is one blob more than before), and
   * this settles only once no write is in flight: the caller then closes or unlinks.
   */
  private async writeContent(
    fd: number,
    entry: FileEntry,
    content: Content,
  ): Promise<number[]> {
    const check = new BlobContentCheck(this.repo, entry, { idsChecked: false });
    let position = 0;
    let writing: Promise<number> = Promise.resolve(0);
    try {
      for (
        let item = content.next();
        item.done !== true;
        item = content.next()
      ) {
        const [id, loading] = item.value;
        let chunk: Buffer;
        try {
          chunk = asBuffer(await loading);
        } catch (error) {
          throw new DamagedData(describeBlobFailure(id, error));
        }
        if (position + chunk.length > entry.size) {
          throw new DamagedData(
            `its data is longer than the recorded size of ${entry.size} bytes`,
          );
        }
        check.add(chunk);
        await writing;
        writing = writeSparseInPool(fd, chunk, position);
        // Marked handled: it is awaited at the next chunk or below, never left to reject alone.
        writing.catch(() => undefined);
        position += chunk.length;
        this.tally.bytesWritten(chunk.length);
      }
      const writtenEnd = await writing;
      assertWholeFile(entry, position, check);
      // Only a file that ends in a hole needs its size set: the temporary file started empty.
      if (writtenEnd !== entry.size) ftruncateSync(fd, entry.size);
      return check.lengths;
    } catch (error) {
      // No write may still be running on a descriptor the caller is about to close.
      await writing.catch(() => undefined);
      throw error;
    }
  }
}
