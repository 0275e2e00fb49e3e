/**
 * Restore's file writers: worker threads (file-writer-worker.ts) that open, hash and write the
 * data blobs of large files, so that the main thread's time goes to fetching and to the many
 * small files. A file is given to one worker for its whole life, because its SHA-256 is computed
 * in order; files go to the least busy worker.
 *
 * Without the compiled worker script (unit tests run the TypeScript sources) the pool is not
 * available and restore writes every file on the main thread.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { BlindsyncError } from "../errors.js";
import type { OpenerParams } from "../repo/index.js";
import type {
  FileWriteFailure,
  FileWritten,
  FileWriterJob,
  FileWriterReply,
} from "./file-writer-worker.js";
import { workerCount } from "./worker-count.js";

const WORKER_SCRIPT = new URL("./file-writer-worker.js", import.meta.url);
/**
 * The worker's JavaScript objects are a few small messages; its blobs live outside the V8 heap.
 * A 4 MiB young generation instead of V8's default lowered a full restore's peak RSS by about
 * 10 MiB (306–307 against 315–318 MiB) at the same speed.
 */
const WORKER_YOUNG_GENERATION_MB = 4;

/** A blob the worker could not open: `cause` is its error, for the caller to describe. */
export class BlobOpenFailure extends Error {}

type Reply = number | FileWritten | true;

interface Pending {
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  /** Files open in this worker. */
  files: number;
}

/** One file being written by a worker; see FileWriterPool.open(). */
export interface WorkerFile {
  /**
   * Sends a blob's stored bytes to be opened and written after the previous ones (bytes that
   * fill a buffer of their own are transferred: the caller must not use them again); resolves to
   * the plaintext bytes written. Rejects with BlobOpenFailure when the blob does not open, with
   * an Error naming the problem otherwise; once one write failed, every later one fails alike.
   */
  write(id: Uint8Array, stored: Uint8Array): Promise<number>;
  /** After the last write: what was written, and the SHA-256 of all of it. */
  finish(): Promise<FileWritten>;
  /** Always call it, after success or failure: resolves once the worker is done with the fd. */
  close(): Promise<void>;
}

export class FileWriterPool {
  readonly #slots: Slot[];
  #seq = 0;
  #files = 0;
  #failure: Error | undefined;

  private constructor(slots: Slot[]) {
    this.#slots = slots;
  }

  /** Starts the pool, or returns undefined when workers are disabled or unavailable. */
  static start(
    params: OpenerParams,
    count = workerCount(),
  ): FileWriterPool | undefined {
    if (count <= 0 || !existsSync(fileURLToPath(WORKER_SCRIPT)))
      return undefined;
    const slots: Slot[] = [];
    for (let index = 0; index < count; index++) {
      const worker = new Worker(WORKER_SCRIPT, {
        workerData: params,
        resourceLimits: {
          maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB,
        },
      });
      slots.push({ worker, pending: new Map(), files: 0 });
    }
    const pool = new FileWriterPool(slots);
    for (const slot of slots) pool.#listen(slot);
    return pool;
  }

  #listen(slot: Slot): void {
    slot.worker.on("message", (reply: FileWriterReply) => {
      const pending = slot.pending.get(reply.seq);
      if (pending === undefined) return;
      slot.pending.delete(reply.seq);
      if ("failure" in reply) pending.reject(failureError(reply.failure));
      else if ("written" in reply) pending.resolve(reply.written);
      else if ("finished" in reply) pending.resolve(reply.finished);
      else pending.resolve(true);
    });
    const fail = (error: Error): void => {
      this.#failure ??= new BlindsyncError(
        "failed",
        `A restore worker stopped: ${error.message}`,
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

  /**
   * Gives the file open at `fd` (empty, written from offset 0) to the least busy worker. The
   * caller keeps the descriptor and must not close it before close() has resolved.
   */
  open(fd: number, size: number): WorkerFile {
    let slot = this.#slots[0] as Slot;
    for (const candidate of this.#slots)
      if (candidate.files < slot.files) slot = candidate;
    const file = ++this.#files;
    slot.files++;
    this.#send(slot, { type: "open", file, fd, size });
    return {
      write: (id, stored) => {
        const owned = ownedCopy(stored);
        return this.#ask(
          slot,
          { type: "write", file, seq: ++this.#seq, id, stored: owned },
          [owned.buffer as ArrayBuffer],
        ) as Promise<number>;
      },
      finish: () =>
        this.#ask(slot, {
          type: "finish",
          file,
          seq: ++this.#seq,
        }) as Promise<FileWritten>,
      close: async () => {
        try {
          await this.#ask(slot, { type: "close", file, seq: ++this.#seq });
        } catch {
          // A stopped worker writes nothing more: the descriptor is free either way.
        } finally {
          slot.files--;
        }
      },
    };
  }

  #send(slot: Slot, job: FileWriterJob, transfer: ArrayBuffer[] = []): void {
    slot.worker.postMessage(job, transfer);
  }

  #ask(
    slot: Slot,
    job: Extract<FileWriterJob, { seq: number }>,
    transfer: ArrayBuffer[] = [],
  ): Promise<Reply> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      slot.pending.set(job.seq, { resolve, reject });
      this.#send(slot, job, transfer);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate()));
  }
}

function failureError(failure: FileWriteFailure): Error {
  if (failure.blobKind === undefined) return new Error(failure.message);
  return new BlobOpenFailure(failure.message, {
    cause: new BlindsyncError(failure.blobKind, failure.message),
  });
}

/**
 * The bytes in a buffer of their own, which can be transferred. A view into a larger buffer
 * (the protocol decoder hands out views of what it received, which may hold the next frame) is
 * copied: transferring that buffer would pull it from under its other users.
 */
function ownedCopy(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}
