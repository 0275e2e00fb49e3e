/**
 * A sealing worker thread: compresses, pads and encrypts blobs for the backup pipeline. Each
 * worker builds its own Sealer from the repository's opaque SealerSpec; the sealer draws its
 * own random session, so nonces never repeat across workers, processes or restarts.
 * Plaintext arrives and ciphertext leaves as transferred buffers: no copies between threads.
 *
 * It also digests changed files (DigestJob): reads one, chunks it and returns the chunk ids,
 * lengths, with the bytes of the chunks an earlier run did not record
 * (copied as they pass, up to a bound). A re-run of a large file with a small edit then spends
 * its reading and hashing here, beside the walk on the main thread, which queues the new
 * chunks without reading or hashing them again. Between reads it yields, so seal jobs are not
 * held up.
 *
 * And it digests batches of small files read whole (SmallFilesJob): each one-chunk file's id,
 * checksum and sealed blob, so that a first backup of many small files spends its per-file
 * hashing and sealing here rather than on the main thread.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import type { ChunkerParams } from "../../chunker/index.js";
import {
  Sealer,
  type CompressionMode,
  type SealerSpec,
} from "../../repo/index.js";
import type { BlobKind } from "../../store/index.js";
import { toHex } from "../../util/bytes.js";
import { GarbageBudget } from "../../util/garbage-budget.js";
import { ChunkStream, type Chunk } from "./chunk-stream.js";
import { OPEN_FLAGS, READ_SIZE } from "./file-reading.js";

export interface SealJob {
  readonly type: "seal";
  readonly seq: number;
  readonly kind: BlobKind;
  readonly id: Uint8Array;
  readonly plaintext: Uint8Array;
  readonly compression: CompressionMode;
}

/**
 * Many blobs sealed in one message: a batch of small blobs costs one post and one reply
 * instead of one each (a post, a clone and a promise per blob cost more than sealing a blob of
 * a few hundred bytes). Plaintexts travel back to back in one transferred buffer.
 */
export interface SealBatchJob {
  readonly type: "seal-batch";
  readonly seq: number;
  /** Each blob's kind, in order. */
  readonly kinds: readonly BlobKind[];
  /** The ids, 32 bytes each, in order. */
  readonly ids: Uint8Array;
  /** The plaintexts back to back; `lengths[i]` bytes each, in order. */
  readonly plaintexts: Uint8Array;
  readonly lengths: Uint32Array;
  readonly compression: CompressionMode;
}

/** A sealed batch: the blobs' bytes back to back in one transferred buffer, `lengths` each. */
export interface SealedBatch {
  readonly bytes: Uint8Array;
  readonly lengths: Uint32Array;
}

/**
 * A batch of small files read whole (SmallFileBatches), each short enough to be one chunk:
 * each file's blob id, whole-file checksum and sealed blob are computed here, so the main
 * thread, the busier of the two, only queues them (docs/performance.md, "Small files,
 * per-file cost, round four").
 */
export interface SmallFilesJob {
  readonly type: "small-files";
  readonly seq: number;
  /** The batch's buffer: transferred here and back (SmallFilesDigest.plaintexts). */
  readonly plaintexts: Uint8Array;
  /** Where each file starts in `plaintexts`. */
  readonly offsets: Uint32Array;
  /** Each file's length; a negative one (a file not read whole) is passed over. */
  readonly lengths: Int32Array;
  readonly compression: CompressionMode;
  /**
   * 1 for each file whose bytes go inline in its tree (format 4; small enough, and within its
   * directory's budget): its id and checksum are computed, but no blob is sealed for it.
   */
  readonly inline: Uint8Array | undefined;
  /**
   * 32 bytes for each file: the one blob id an earlier run recorded at its path, zeros where
   * none. A file whose id is that one gets its id and checksum but is not sealed ahead: its
   * blob is most likely stored already (a release unpacked over the last one changes every
   * file's ctime and few files' bytes), and sealing it only to throw the result away cost the
   * worker its zstd and AES time. Should the blob be missing after all, the blob saver has it
   * sealed the usual way.
   */
  readonly recorded?: Uint8Array | undefined;
}

/** A SmallFilesJob's answer; a file passed over, or inline, has a sealed length of 0. */
export interface SmallFilesDigest {
  /** The job's buffer, back. */
  readonly plaintexts: Uint8Array;
  /** Each file's blob id, 32 bytes each, in order. */
  readonly ids: Uint8Array;
  /** Each file's whole-file checksum (kind chunk-ids), 32 bytes each, in order. */
  readonly checksums: Uint8Array;
  /** The sealed blobs back to back, `sealedLengths[i]` bytes each. */
  readonly sealed: Uint8Array;
  readonly sealedLengths: Uint32Array;
}

export interface DigestJob {
  readonly type: "digest";
  readonly seq: number;
  /** The file's path as bytes (any name Linux allows). */
  readonly path: Uint8Array;
  /** Carry back the chunks not named here; without it, the digest carries no bytes. */
  readonly carry?: CarryRequest;
}

/** Which chunks a digest carries back, and how many bytes of them at most. */
export interface CarryRequest {
  /** The chunk ids an earlier run recorded for the file, 32 bytes each. */
  readonly recorded: Uint8Array;
  /** Past this many bytes of chunks to carry, the digest stops and answers "too new". */
  readonly maxBytes: number;
}

/** A chunk carried back: its place in the file's chunk list and its bytes. */
export interface CarriedChunk {
  readonly index: number;
  readonly bytes: Uint8Array;
}

export interface WorkerParams {
  readonly sealer: SealerSpec;
  readonly gear: Int32Array;
  readonly chunker: ChunkerParams;
}

export interface FileDigest {
  /** The chunk ids, 32 bytes each, in file order. */
  readonly ids: Uint8Array;
  readonly lengths: number[];
  readonly size: number;
  /** The chunks not among the recorded ids, in file order (none without a CarryRequest). */
  readonly carried: CarriedChunk[];
}

export type WorkerReply =
  | { readonly seq: number; readonly bytes: Uint8Array }
  | { readonly seq: number; readonly batch: SealedBatch }
  | { readonly seq: number; readonly digest: FileDigest }
  | { readonly seq: number; readonly smallFiles: SmallFilesDigest }
  /** A digest stopped: more than CarryRequest.maxBytes of the file is new. */
  | { readonly seq: number; readonly tooNew: true }
  | {
      readonly seq: number;
      readonly error: string;
      /** The errno code of a file's read error (ENOENT, ELOOP, EAGAIN…): the file is skipped. */
      readonly code?: string;
    };

/** Reads between yields to the message queue: 8 MiB, a few milliseconds of hashing. */
const READS_PER_SLICE = 8;

/**
 * Sealing a blob leaves its plaintext and two or three intermediate copies (compressed, padded,
 * the cipher's output) as garbage, and a worker makes almost no JavaScript objects, so V8
 * would collect them only under external memory pressure, with about 64 MiB dead (see
 * util/garbage-budget.ts). A young-generation collection once this many plaintext bytes are
 * sealed frees them: the worker's young generation is 4 MiB, so each takes well under a
 * millisecond.
 */
const WORKER_GARBAGE_BUDGET = 8 * 1024 * 1024;

const params = workerData as WorkerParams;
const sealer = Sealer.fromSpec(params.sealer);
const garbage = new GarbageBudget(WORKER_GARBAGE_BUDGET, "minor");

function seal(job: SealJob): void {
  const bytes = sealer.seal(job.kind, job.id, job.plaintext, job.compression);
  const reply: WorkerReply = { seq: job.seq, bytes };
  parentPort?.postMessage(reply, [bytes.buffer as ArrayBuffer]);
  garbage.dropped(job.plaintext.length);
}

function sealBatch(job: SealBatchJob): void {
  const count = job.kinds.length;
  const sealed: Uint8Array[] = [];
  const lengths = new Uint32Array(count);
  let offset = 0;
  let total = 0;
  for (let index = 0; index < count; index++) {
    const length = job.lengths[index] as number;
    const bytes = sealer.seal(
      job.kinds[index] as BlobKind,
      job.ids.subarray(index * 32, index * 32 + 32),
      job.plaintexts.subarray(offset, offset + length),
      job.compression,
    );
    offset += length;
    sealed.push(bytes);
    lengths[index] = bytes.length;
    total += bytes.length;
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const blob of sealed) {
    bytes.set(blob, at);
    at += blob.length;
  }
  const reply: WorkerReply = { seq: job.seq, batch: { bytes, lengths } };
  parentPort?.postMessage(reply, [bytes.buffer, lengths.buffer]);
  // The plaintexts and each blob's sealed bytes, copied into the reply, are garbage now.
  garbage.dropped(job.plaintexts.length + total);
}

/** Whether `ids`' index-th 32 bytes are `id`. */
function sameId(ids: Uint8Array, index: number, id: Uint8Array): boolean {
  const at = index * 32;
  for (let byte = 0; byte < 32; byte++)
    if (ids[at + byte] !== id[byte]) return false;
  return true;
}

function smallFiles(job: SmallFilesJob): void {
  const count = job.lengths.length;
  const ids = new Uint8Array(count * 32);
  const checksums = new Uint8Array(count * 32);
  const sealedLengths = new Uint32Array(count);
  const sealed: Uint8Array[] = [];
  let total = 0;
  let plaintextBytes = 0;
  for (let index = 0; index < count; index++) {
    const length = job.lengths[index] as number;
    if (length < 0) continue;
    const offset = job.offsets[index] as number;
    const plaintext = job.plaintexts.subarray(offset, offset + length);
    const id = sealer.blobId(plaintext);
    ids.set(id, index * 32);
    checksums.set(sealer.fileChecksum(length, [id]).digest, index * 32);
    if (
      job.inline?.[index] === 1 ||
      (job.recorded !== undefined && sameId(job.recorded, index, id))
    ) {
      plaintextBytes += length;
      continue;
    }
    const bytes = sealer.seal("data", id, plaintext, job.compression);
    sealed.push(bytes);
    sealedLengths[index] = bytes.length;
    total += bytes.length;
    plaintextBytes += length;
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const blob of sealed) {
    bytes.set(blob, at);
    at += blob.length;
  }
  const digest: SmallFilesDigest = {
    plaintexts: job.plaintexts,
    ids,
    checksums,
    sealed: bytes,
    sealedLengths,
  };
  const reply: WorkerReply = { seq: job.seq, smallFiles: digest };
  parentPort?.postMessage(reply, [
    job.plaintexts.buffer as ArrayBuffer,
    ids.buffer,
    checksums.buffer,
    bytes.buffer,
    sealedLengths.buffer,
  ]);
  garbage.dropped(plaintextBytes + total);
}

/** Chunks to carry back: those an earlier run did not record, up to a bound. */
class Carrier {
  readonly carried: CarriedChunk[] = [];
  readonly #recorded: Set<string>;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(request: CarryRequest) {
    this.#recorded = new Set();
    for (let offset = 0; offset < request.recorded.length; offset += 32)
      this.#recorded.add(toHex(request.recorded.subarray(offset, offset + 32)));
    this.#maxBytes = request.maxBytes;
  }

  /** Keeps a copy of the chunk if it is new; false once the new chunks pass the bound. */
  take(index: number, { id, view }: Chunk): boolean {
    if (this.#recorded.has(toHex(id))) return true;
    this.#bytes += view.length;
    if (this.#bytes > this.#maxBytes) return false;
    // Uint8Array's slice copies into a buffer of its own, which the reply then transfers.
    this.carried.push({ index, bytes: Uint8Array.prototype.slice.call(view) });
    return true;
  }
}

async function digest(job: DigestJob): Promise<void> {
  const fd = openSync(Buffer.from(job.path), OPEN_FLAGS);
  try {
    const buffer = Buffer.allocUnsafe(READ_SIZE);
    const stream = new ChunkStream(params.gear, params.chunker, (view) =>
      sealer.blobId(view),
    );
    const carrier =
      job.carry === undefined ? undefined : new Carrier(job.carry);
    const ids: Uint8Array[] = [];
    const lengths: number[] = [];
    const take = (chunks: Chunk[]): boolean => {
      for (const chunk of chunks) {
        if (carrier?.take(ids.length, chunk) === false) return false;
        ids.push(chunk.id);
        lengths.push(chunk.view.length);
      }
      return true;
    };
    const tooNew = (): void => {
      const reply: WorkerReply = { seq: job.seq, tooNew: true };
      parentPort?.postMessage(reply);
    };
    for (let reads = 1; ; reads++) {
      // Until end of file, as the main thread reads: the file may have grown since stat().
      const bytesRead = readSync(fd, buffer, 0, READ_SIZE, null);
      if (bytesRead === 0) break;
      if (!take(stream.push(buffer.subarray(0, bytesRead)))) {
        tooNew();
        return;
      }
      if (reads % READS_PER_SLICE === 0)
        await new Promise((resolve) => setImmediate(resolve));
    }
    const { chunks } = stream.finish();
    if (!take(chunks)) {
      tooNew();
      return;
    }
    const carried = carrier?.carried ?? [];
    const result: FileDigest = {
      ids: Buffer.concat(ids),
      lengths,
      size: stream.size,
      carried,
    };
    const reply: WorkerReply = { seq: job.seq, digest: result };
    parentPort?.postMessage(
      reply,
      carried.map(({ bytes }) => bytes.buffer as ArrayBuffer),
    );
  } finally {
    closeSync(fd);
  }
}

/**
 * Replies with an error. A failed system call while digesting (open, read) keeps its errno
 * code, which makes it the file's own error: the file is skipped, the backup goes on.
 */
function fail(seq: number, error: unknown, readingFile: boolean): void {
  const { code, syscall } = (error ?? {}) as {
    code?: unknown;
    syscall?: unknown;
  };
  const fileError =
    readingFile && typeof code === "string" && typeof syscall === "string";
  const reply: WorkerReply = {
    seq,
    error: error instanceof Error ? error.message : String(error),
    ...(fileError ? { code } : {}),
  };
  parentPort?.postMessage(reply);
}

parentPort?.on(
  "message",
  (job: SealJob | SealBatchJob | SmallFilesJob | DigestJob) => {
    if (job.type === "digest") {
      digest(job).catch((error: unknown) => {
        fail(job.seq, error, true);
      });
      return;
    }
    try {
      if (job.type === "seal-batch") sealBatch(job);
      else if (job.type === "small-files") smallFiles(job);
      else seal(job);
    } catch (error) {
      fail(job.seq, error, false);
    }
  },
);
