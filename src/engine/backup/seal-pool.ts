/**
 * A pool of sealing worker threads (compress + pad + encrypt), sized to the cores. The main
 * thread keeps reading, chunking and hashing while the workers seal, so a backup uses every
 * core. Jobs go to the least busy worker; plaintext is transferred, not copied. The workers
 * also digest changed files (digest()), so re-hashing a large file runs beside the walk, and
 * batches of small files (digestSmallFiles()), whose blobs they seal ahead.
 *
 * Without the compiled worker script (unit tests run the TypeScript sources) the pool is not
 * available and the blob saver seals on the main thread: same bytes format, same ids.
 *
 * Just over 400 lines with one job, the main thread's side of the workers: the three kinds of
 * job (seal, digest a file, digest a batch of small files) share the choice of worker, the
 * transfer of buffers and the blobs sealed ahead, which split apart would pass between files.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker, type ResourceLimits } from "node:worker_threads";
import { BlindsyncError } from "../../errors.js";
import type { CompressionMode, Repository } from "../../repo/index.js";
import type { BlobId, BlobKind } from "../../store/index.js";
import type {
  CarryRequest,
  DigestJob,
  FileDigest,
  SealBatchJob,
  SealedBatch,
  SealJob,
  SmallFilesDigest,
  SmallFilesJob,
  WorkerParams,
  WorkerReply,
} from "./seal-worker.js";

const WORKER_SCRIPT = new URL("./seal-worker.js", import.meta.url);
const MAX_WORKERS = 8;
/**
 * Each worker is an isolate with a heap of its own. Its live data is small (one batch's
 * messages; plaintext and sealed bytes live outside the heap, in transferred buffers), but by
 * default V8 lets its young generation grow to 48 MiB of semi-spaces, all of it resident after
 * a backup of many small files (docs/performance.md, "Memory with many files"). This bounds it,
 * whatever the size of the tree or the repository; the old generation keeps V8's default limit,
 * so a worker never fails for want of heap.
 */
export const WORKER_YOUNG_GENERATION_MB = 4;

/** A blob to seal: its kind, its id and its plaintext. */
interface PlainBlob {
  readonly kind: BlobKind;
  readonly id: BlobId;
  readonly plaintext: Uint8Array;
}

type Reply =
  Uint8Array | SealedBatch | FileDigest | SmallFilesDigest | undefined;

/** A small file digested in a worker (digestSmallFiles): its bytes, blob id and checksum. */
export interface DigestedFile {
  readonly plaintext: Uint8Array;
  readonly id: BlobId;
  /** The whole-file checksum, kind chunk-ids. */
  readonly checksum: Uint8Array;
}

/** A blob sealed ahead by digestSmallFiles, until seal() or sealMany() asks for it. */
interface Presealed {
  readonly bytes: Uint8Array;
  readonly compression: CompressionMode;
}

interface Pending {
  resolve(result: Reply): void;
  reject(error: Error): void;
}

/** A file's own read error in a worker (it is skipped with a warning, as on the main thread). */
export class FileReadError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.code = code;
  }
}

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/**
 * Workers to use: $BLINDSYNC_WORKERS if set (0 disables the pool), else one per core besides
 * the main thread, which is busy itself reading, chunking and hashing. On the 2-core benchmark
 * machine 1 worker beat 2 (initial backup 10.8–11.3 s against 11.7–12.5 s, 340 against 380–400
 * MiB peak RSS): a second worker only competed with the main thread, ssh and the server.
 */
export function workerCount(env: NodeJS.ProcessEnv = process.env): number {
  const configured = env.BLINDSYNC_WORKERS;
  if (configured !== undefined && /^\d+$/.test(configured))
    return Math.min(Number(configured), MAX_WORKERS);
  return Math.min(availableParallelism() - 1, MAX_WORKERS);
}

function transferable(bytes: Uint8Array): Uint8Array {
  // Only a view that owns its whole buffer can be transferred without taking other data along.
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}

export class SealPool {
  readonly size: number;
  readonly #workerData: WorkerParams;
  /** Empty until the first job: see start(). */
  readonly #slots: Slot[] = [];
  #seq = 0;
  #failure: Error | undefined;
  #digesting = 0;
  /**
   * Data blobs sealed ahead with their file's digest, by their id object: the blob saver's
   * seal asks for exactly that object. Weak, so a blob never asked for (its id was known to
   * exist) costs nothing once its file is done.
   */
  readonly #presealed = new WeakMap<BlobId, Presealed>();

  private constructor(workerData: WorkerParams, size: number) {
    this.#workerData = workerData;
    this.size = size;
  }

  /**
   * The pool, or undefined when workers are disabled or unavailable. Its workers start with
   * the first job: a backup that finds nothing changed seals nothing and digests nothing, and
   * then does not pay a worker's start-up (0.2–0.3 s of CPU loading modules beside the walk)
   * nor its memory (15–20 MiB). A backup with work posts its first job within milliseconds of
   * starting anyway.
   */
  static start(repo: Repository, count = workerCount()): SealPool | undefined {
    if (count <= 0 || !existsSync(fileURLToPath(WORKER_SCRIPT)))
      return undefined;
    const workerData: WorkerParams = {
      sealer: repo.sealerSpec(),
      gear: repo.gear,
      chunker: repo.config.chunker,
    };
    return new SealPool(workerData, count);
  }

  /** The heap limits each started worker runs with (empty until the first job). */
  get workerLimits(): ResourceLimits[] {
    return this.#slots.map((slot) => slot.worker.resourceLimits ?? {});
  }

  /** Whether any worker has been started (the first job starts them all). */
  get started(): boolean {
    return this.#slots.length > 0;
  }

  #startWorkers(): void {
    for (let index = 0; index < this.size; index++) {
      const worker = new Worker(WORKER_SCRIPT, {
        workerData: this.#workerData,
        resourceLimits: {
          maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB,
        },
      });
      const slot = { worker, pending: new Map<number, Pending>() };
      this.#slots.push(slot);
      this.#listen(slot);
    }
  }

  #listen(slot: Slot): void {
    slot.worker.on("message", (reply: WorkerReply) => {
      const pending = slot.pending.get(reply.seq);
      if (pending === undefined) return;
      slot.pending.delete(reply.seq);
      if ("error" in reply)
        pending.reject(
          reply.code === undefined
            ? new BlindsyncError("failed", `A worker failed: ${reply.error}`)
            : new FileReadError(reply.error, reply.code),
        );
      else if ("tooNew" in reply) pending.resolve(undefined);
      else if ("digest" in reply) pending.resolve(reply.digest);
      else if ("smallFiles" in reply) pending.resolve(reply.smallFiles);
      else pending.resolve("batch" in reply ? reply.batch : reply.bytes);
    });
    const fail = (error: Error): void => {
      this.#failure ??= new BlindsyncError(
        "failed",
        `A sealing worker stopped: ${error.message}`,
        { cause: error },
      );
      for (const pending of slot.pending.values())
        pending.reject(this.#failure);
      slot.pending.clear();
    };
    slot.worker.on("error", fail);
    slot.worker.on("exit", (code) => {
      if (slot.pending.size > 0) fail(new Error(`exit code ${code}`));
    });
  }

  /** The blob digestSmallFiles() sealed ahead under this id object, taken once. */
  #takePresealed(
    kind: BlobKind,
    id: BlobId,
    compression: CompressionMode,
  ): Uint8Array | undefined {
    if (kind !== "data") return undefined;
    const presealed = this.#presealed.get(id);
    if (presealed?.compression !== compression) return undefined;
    this.#presealed.delete(id);
    return presealed.bytes;
  }

  /** Seals one blob in the least busy worker (or takes it sealed ahead). */
  seal(
    kind: BlobKind,
    id: BlobId,
    plaintext: Uint8Array,
    compression: CompressionMode = "auto",
  ): Promise<Uint8Array> {
    const presealed = this.#takePresealed(kind, id, compression);
    if (presealed !== undefined) return Promise.resolve(presealed);
    const seq = ++this.#seq;
    const job: SealJob = {
      type: "seal",
      seq,
      kind,
      id,
      plaintext: transferable(plaintext),
      compression,
    };
    return this.#post(job, [
      job.plaintext.buffer as ArrayBuffer,
    ]) as Promise<Uint8Array>;
  }

  /**
   * Seals many blobs, split into one message per worker by bytes: the sealed bytes, in the
   * order given. For batches of small blobs, where a message per blob costs more than the
   * sealing (docs/performance.md, many small files). Blobs sealed ahead (digestSmallFiles)
   * are taken as they are.
   */
  async sealMany(
    all: readonly PlainBlob[],
    compression: CompressionMode = "auto",
  ): Promise<Uint8Array[]> {
    const ahead = all.map((blob) =>
      this.#takePresealed(blob.kind, blob.id, compression),
    );
    const blobs = all.filter((_, index) => ahead[index] === undefined);
    if (blobs.length === 0) return ahead as Uint8Array[];
    const fresh = (await this.#sealManyFresh(blobs, compression)).values();
    return ahead.map((bytes) => bytes ?? (fresh.next().value as Uint8Array));
  }

  async #sealManyFresh(
    blobs: readonly PlainBlob[],
    compression: CompressionMode,
  ): Promise<Uint8Array[]> {
    let total = 0;
    for (const blob of blobs) total += blob.plaintext.length;
    const parts: (readonly PlainBlob[])[] = [];
    const share = Math.ceil(total / this.size);
    let start = 0;
    let bytes = 0;
    for (let index = 0; index < blobs.length; index++) {
      bytes += (blobs[index] as PlainBlob).plaintext.length;
      if (bytes >= share || index === blobs.length - 1) {
        parts.push(blobs.slice(start, index + 1));
        start = index + 1;
        bytes = 0;
      }
    }
    const sealed = await Promise.all(
      parts.map((part) => this.#sealBatch(part, compression)),
    );
    return sealed.flat();
  }

  async #sealBatch(
    blobs: readonly PlainBlob[],
    compression: CompressionMode,
  ): Promise<Uint8Array[]> {
    const lengths = new Uint32Array(blobs.length);
    let total = 0;
    for (const [index, blob] of blobs.entries()) {
      lengths[index] = blob.plaintext.length;
      total += blob.plaintext.length;
    }
    const plaintexts = new Uint8Array(total);
    const ids = new Uint8Array(blobs.length * 32);
    let offset = 0;
    for (const [index, blob] of blobs.entries()) {
      plaintexts.set(blob.plaintext, offset);
      offset += blob.plaintext.length;
      ids.set(blob.id, index * 32);
    }
    const job: SealBatchJob = {
      type: "seal-batch",
      seq: ++this.#seq,
      kinds: blobs.map((blob) => blob.kind),
      ids,
      plaintexts,
      lengths,
      compression,
    };
    const batch = (await this.#post(job, [
      plaintexts.buffer,
      ids.buffer,
      lengths.buffer,
    ])) as SealedBatch;
    const result: Uint8Array[] = [];
    let at = 0;
    for (const length of batch.lengths) {
      result.push(batch.bytes.subarray(at, at + length));
      at += length;
    }
    return result;
  }

  /**
   * Digests a batch of small files read whole, each one chunk, in the least busy worker: each
   * file's blob id and whole-file checksum, and its blob sealed ahead, which seal() and
   * sealMany() then take for that id instead of sealing it again. `plaintexts` is transferred
   * (unusable here afterwards) and comes back as `plaintexts`, which each file's answer views.
   * A file whose length is negative is passed over (undefined); one whose `inline` flag is 1
   * is digested but not sealed (its bytes go inline in its tree).
   */
  async digestSmallFiles(
    plaintexts: Uint8Array,
    offsets: Uint32Array,
    lengths: Int32Array,
    compression: CompressionMode,
    inline?: Uint8Array,
    recorded?: Uint8Array,
  ): Promise<{
    plaintexts: Uint8Array;
    files: (DigestedFile | undefined)[];
  }> {
    const job: SmallFilesJob = {
      type: "small-files",
      seq: ++this.#seq,
      plaintexts,
      offsets,
      lengths,
      compression,
      inline,
      recorded,
    };
    // Only the bytes move; offsets and lengths, a few bytes a file, are copied (read below).
    const digest = (await this.#post(job, [
      plaintexts.buffer as ArrayBuffer,
    ])) as SmallFilesDigest;
    const files: (DigestedFile | undefined)[] = [];
    let at = 0;
    for (let index = 0; index < lengths.length; index++) {
      const length = lengths[index] as number;
      const sealedLength = digest.sealedLengths[index] as number;
      if (length < 0) {
        files.push(undefined);
        continue;
      }
      const offset = offsets[index] as number;
      const id = digest.ids.subarray(index * 32, index * 32 + 32);
      if (sealedLength > 0)
        this.#presealed.set(id, {
          bytes: digest.sealed.subarray(at, at + sealedLength),
          compression,
        });
      at += sealedLength;
      files.push({
        plaintext: digest.plaintexts.subarray(offset, offset + length),
        id,
        checksum: digest.checksums.subarray(index * 32, index * 32 + 32),
      });
    }
    return { plaintexts: digest.plaintexts, files };
  }

  /**
   * Reads and chunks a file in the least busy worker: its chunk ids and lengths, and
   * with `carry` the bytes of the chunks not among the recorded ids; undefined when those pass
   * `carry.maxBytes` (the worker stops there). A read error rejects with FileReadError; a
   * failed worker with a BlindsyncError.
   */
  digest(
    path: Uint8Array,
    carry?: CarryRequest,
  ): Promise<FileDigest | undefined> {
    const job: DigestJob = {
      type: "digest",
      seq: ++this.#seq,
      path,
      ...(carry === undefined ? {} : { carry }),
    };
    this.#digesting += 1;
    return (this.#post(job, []) as Promise<FileDigest | undefined>).finally(
      () => {
        this.#digesting -= 1;
      },
    );
  }

  /** Whether a worker is free for another digest (each takes seconds for a large file). */
  get canDigest(): boolean {
    return this.#digesting < this.size;
  }

  #post(
    job: SealJob | SealBatchJob | SmallFilesJob | DigestJob,
    transfer: ArrayBuffer[],
  ): Promise<Reply> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#slots.length === 0) this.#startWorkers();
    let slot = this.#slots[0] as Slot;
    for (const candidate of this.#slots)
      if (candidate.pending.size < slot.pending.size) slot = candidate;
    return new Promise((resolve, reject) => {
      slot.pending.set(job.seq, { resolve, reject });
      slot.worker.postMessage(job, transfer);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate()));
  }
}
