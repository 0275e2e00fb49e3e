/**
 * Small files read in batches, off the main thread. A first backup of many small files spent
 * about a sixth of its main thread in each file's open, read and close (docs/performance.md,
 * "Small files, per-file cost, round three"); the native addon (native/readfiles.c) does them
 * for a whole batch in one call on a thread of the libuv pool, one batch ahead of the files
 * being hashed and queued. Without the addon the same batches are read here with synchronous
 * calls, with the same flags and the same answers.
 *
 * A batch answers only for what it read in full: a file it could not open or read, or one that
 * grew past the size lstat() gave, is read again its usual way (FileSaver.read), so errors are
 * Node's own and a growing file is read to its end exactly as before.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { native } from "../../util/native.js";
import { OPEN_FLAGS } from "./file-reading.js";
import type { DigestedFile } from "./seal-pool.js";

/** Files up to this size (as lstat gave it) are read in batches; larger ones one by one. */
export const BATCHED_FILE_MAX = 128 * 1024;
/** A batch closes at this many bytes of slots or this many files, whichever comes first. */
const BATCH_BYTES = 1024 * 1024;
const BATCH_FILES = 256;

/**
 * Reads `paths` into consecutive slots of `into` (slot i holds capacities[i] bytes): each
 * file's byte count, or its negated errno, as native/readfiles.c answers.
 */
export type ReadBatch = (
  paths: readonly Buffer[],
  into: Buffer,
  capacities: Uint32Array,
) => Promise<Int32Array>;

/**
 * Digests a batch once read (FileSaver.digestBatch: a worker hashes and seals its one-chunk
 * files): given the files' paths and the batch's buffer, which it may transfer elsewhere, each file's offset and
 * length (negative for a file not read whole) and whether it was added to go inline (1), the
 * buffer's bytes back and each file's digest (undefined for a file it passed over).
 */
export type DigestBatch = (
  paths: readonly Buffer[],
  into: Buffer,
  offsets: Uint32Array,
  lengths: Int32Array,
  inline: Uint8Array,
) => Promise<{
  plaintexts: Uint8Array;
  files: readonly (DigestedFile | undefined)[];
}>;

/** A file's whole content from its batch, with its digest when the batch had one made. */
export interface SmallFileRead {
  readonly data: Buffer;
  readonly digest: DigestedFile | undefined;
}

/** The addon's answer, computed with Node's synchronous calls (exported for its test). */
export function readBatchInNode(
  paths: readonly Buffer[],
  into: Buffer,
  capacities: Uint32Array,
): Int32Array {
  const results = new Int32Array(paths.length);
  let offset = 0;
  for (const [index, path] of paths.entries()) {
    const capacity = capacities[index] as number;
    results[index] = readOneInNode(path, into, offset, capacity);
    offset += capacity;
  }
  return results;
}

function readOneInNode(
  path: Buffer,
  into: Buffer,
  offset: number,
  capacity: number,
): number {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (error) {
    return negatedErrno(error);
  }
  try {
    let done = 0;
    while (done < capacity) {
      const read = readSync(fd, into, offset + done, capacity - done, null);
      if (read === 0) break;
      done += read;
    }
    return done;
  } catch (error) {
    return negatedErrno(error);
  } finally {
    closeSync(fd);
  }
}

/** Node's errno is already negative (-2 for ENOENT); anything else becomes EIO's. */
function negatedErrno(error: unknown): number {
  const errno = (error as { errno?: unknown }).errno;
  return typeof errno === "number" && errno < 0 ? errno : -5;
}

/** The addon's batch read where it was built with one, else Node's. */
export const readBatch: ReadBatch = (() => {
  const readFiles = native?.readFiles;
  if (readFiles === undefined)
    return (paths, into, capacities) =>
      Promise.resolve(readBatchInNode(paths, into, capacities));
  return (paths, into, capacities) =>
    readFiles(paths, OPEN_FLAGS, into, capacities);
})();

interface Batch {
  readonly paths: Buffer[];
  readonly capacities: number[];
  /** 1 for each file added to go inline (InlineBudget), else 0. */
  readonly inline: number[];
  /** Where each file's slot starts in the batch's buffer. */
  readonly offsets: number[];
  bytes: number;
  /** Files not yet taken; the batch's buffer is let go when none are left. */
  untaken: number;
  read?: Promise<BatchRead | undefined>;
}

/** A batch's buffer and answers; undefined when the read as a whole failed. */
interface BatchRead {
  readonly into: Buffer;
  readonly results: Int32Array;
  /** Each file's digest, when the batch was digested. */
  readonly files?: readonly (DigestedFile | undefined)[];
}

/** Where one file's bytes will be: its batch and its place in it. */
export interface BatchTicket {
  readonly batch: number;
  readonly index: number;
}

/**
 * One directory's small files, read in batches in the order they are added, each batch started
 * when the one before it is first taken from: one batch ahead of the hashing, so memory holds
 * at most two batches per directory reading its files (the walker lets DIRS_READING do so).
 */
export class SmallFileBatches {
  readonly #read: ReadBatch;
  readonly #digest: DigestBatch | undefined;
  readonly #batches: Batch[] = [];

  /** With `digest`, each batch is digested once read, before its files are taken. */
  constructor(read: ReadBatch = readBatch, digest?: DigestBatch) {
    this.#read = read;
    this.#digest = digest;
  }

  /**
   * Plans to read a file of `size` bytes (as lstat gave it, at most BATCHED_FILE_MAX);
   * `inline`: its bytes go inline in its tree if they still fit once read.
   */
  add(path: Buffer, size: number, inline = false): BatchTicket {
    // One byte more than lstat said: a full slot means the file grew, and is read again.
    const capacity = size + 1;
    let last = this.#batches.at(-1);
    if (
      last === undefined ||
      last.paths.length >= BATCH_FILES ||
      (last.bytes + capacity > BATCH_BYTES && last.paths.length > 0)
    ) {
      last = {
        paths: [],
        capacities: [],
        inline: [],
        offsets: [],
        bytes: 0,
        untaken: 0,
      };
      this.#batches.push(last);
    }
    last.paths.push(path);
    last.capacities.push(capacity);
    last.inline.push(inline ? 1 : 0);
    last.offsets.push(last.bytes);
    last.bytes += capacity;
    last.untaken += 1;
    return { batch: this.#batches.length - 1, index: last.paths.length - 1 };
  }

  /**
   * Starts reading the first batch, before any file's turn: files wait for a slot of the
   * walker's, and the batch reads meanwhile.
   */
  start(): void {
    const first = this.#batches[0];
    if (first !== undefined) void this.#start(first);
  }

  /**
   * The file's whole content, a view valid for as long as the caller holds it, and its digest
   * if the batch was digested; undefined when the batch could not read it in full (an error,
   * or it grew), and the caller reads it itself. Each ticket is taken once. Rejects only when
   * the digest failed (a failed worker), with the digest's error.
   */
  async take(ticket: BatchTicket): Promise<SmallFileRead | undefined> {
    const batch = this.#batches[ticket.batch];
    if (batch === undefined) throw new RangeError("Unknown batch ticket");
    const read = this.#start(batch);
    const next = this.#batches[ticket.batch + 1];
    if (next !== undefined) void this.#start(next);
    const answer = await read;
    batch.untaken -= 1;
    // The views handed out keep the bytes alive; the batch no longer needs to.
    if (batch.untaken === 0) batch.read = Promise.resolve(undefined);
    if (answer === undefined) return undefined;
    const length = answer.results[ticket.index] as number;
    if (length < 0 || length >= (batch.capacities[ticket.index] as number))
      return undefined;
    const offset = batch.offsets[ticket.index] as number;
    return {
      data: answer.into.subarray(offset, offset + length),
      digest: answer.files?.[ticket.index],
    };
  }

  #start(batch: Batch): Promise<BatchRead | undefined> {
    if (batch.read !== undefined) return batch.read;
    const digest = this.#digest;
    // A buffer of its own (never a slice of Node's shared pool): a digest transfers it.
    const into =
      digest === undefined
        ? Buffer.allocUnsafe(batch.bytes)
        : Buffer.allocUnsafeSlow(batch.bytes);
    // A failed batch (the addon out of memory) only sends its files their usual way.
    const read = this.#read(
      batch.paths,
      into,
      Uint32Array.from(batch.capacities),
    ).then(
      (results) => ({ into, results }),
      () => undefined,
    );
    batch.read =
      digest === undefined
        ? read
        : read.then((answer) =>
            answer === undefined ? undefined : digested(batch, answer, digest),
          );
    // Read ahead, maybe never awaited (an earlier failure ends the walk): take() rethrows.
    batch.read.catch(() => undefined);
    return batch.read;
  }
}

/** A batch's answer with its files digested: the bytes now live in the buffer that came back. */
async function digested(
  batch: Batch,
  answer: BatchRead,
  digest: DigestBatch,
): Promise<BatchRead> {
  const lengths = new Int32Array(answer.results.length);
  for (const [index, result] of answer.results.entries())
    lengths[index] = result < (batch.capacities[index] as number) ? result : -1;
  const { plaintexts, files } = await digest(
    batch.paths,
    answer.into,
    Uint32Array.from(batch.offsets),
    lengths,
    Uint8Array.from(batch.inline),
  );
  return {
    into: Buffer.from(
      plaintexts.buffer,
      plaintexts.byteOffset,
      plaintexts.byteLength,
    ),
    results: answer.results,
    files,
  };
}
