/**
 * A restore file-writer thread: opens (authenticates, decrypts, decompresses) the data blobs of
 * large files, hashes them and writes them into the file's descriptor, which the main thread
 * opened and will close. The main thread then only fetches these files' blobs and walks, writing
 * the small files itself; before, one thread did all of it and was the restore's bottleneck
 * (docs/performance.md).
 *
 * Messages of one file arrive in file order (a worker's message queue is FIFO), so the file's
 * SHA-256 is computed in order. After a failure the file's later blobs are not written, and
 * every later reply for it repeats the failure; "close" forgets the file and is answered only
 * after everything sent before it was handled, so the main thread closes the descriptor only
 * when no write of this worker can still reach it.
 */
import { createHash, type Hash } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import { isBlindsyncError, type ErrorKind } from "../errors.js";
import { openDataBlob, type OpenerParams } from "../repo/index.js";
import { writeSparse } from "./sparse-write.js";

export type FileWriterJob =
  | {
      readonly type: "open";
      readonly file: number;
      readonly fd: number;
      /** The size the snapshot records: more data than this is refused. */
      readonly size: number;
    }
  | {
      readonly type: "write";
      readonly file: number;
      readonly seq: number;
      readonly id: Uint8Array;
      /** The blob's stored bytes, unauthenticated, transferred from the main thread. */
      readonly stored: Uint8Array;
    }
  | { readonly type: "finish"; readonly file: number; readonly seq: number }
  | { readonly type: "close"; readonly file: number; readonly seq: number };

export interface FileWritten {
  /** Plaintext bytes received. */
  readonly size: number;
  readonly sha256: Uint8Array;
  /** The offset just past the last byte written: less than size when the file ends in a hole. */
  readonly writtenEnd: number;
}

export type FileWriterReply =
  | { readonly seq: number; readonly written: number }
  | { readonly seq: number; readonly finished: FileWritten }
  | { readonly seq: number; readonly closed: true }
  | { readonly seq: number; readonly failure: FileWriteFailure };

export interface FileWriteFailure {
  readonly message: string;
  /** Set when the failure is the blob's (it did not open): its BlindsyncError kind. */
  readonly blobKind?: ErrorKind;
}

interface OpenFile {
  readonly fd: number;
  readonly size: number;
  readonly hash: Hash;
  position: number;
  writtenEnd: number;
  failure: FileWriteFailure | undefined;
}

const params = workerData as OpenerParams;
const files = new Map<number, OpenFile>();

function write(file: OpenFile, id: Uint8Array, stored: Uint8Array): number {
  let plaintext: Uint8Array;
  try {
    plaintext = openDataBlob(params, id, stored);
  } catch (error) {
    throw Object.assign(new Error(messageOf(error)), {
      blobKind: isBlindsyncError(error) ? error.kind : "failed",
    });
  }
  if (file.position + plaintext.length > file.size)
    throw new Error(
      `its data is longer than the recorded size of ${file.size} bytes`,
    );
  const chunk = Buffer.from(
    plaintext.buffer,
    plaintext.byteOffset,
    plaintext.byteLength,
  );
  file.hash.update(chunk);
  file.writtenEnd = writeSparse(file.fd, chunk, file.position);
  file.position += chunk.length;
  return chunk.length;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function handle(job: FileWriterJob): FileWriterReply | undefined {
  if (job.type === "open") {
    files.set(job.file, {
      fd: job.fd,
      size: job.size,
      hash: createHash("sha256"),
      position: 0,
      writtenEnd: 0,
      failure: undefined,
    });
    return undefined;
  }
  if (job.type === "close") {
    files.delete(job.file);
    return { seq: job.seq, closed: true };
  }
  const file = files.get(job.file);
  if (file === undefined)
    return {
      seq: job.seq,
      failure: { message: `file ${job.file} is not open in this worker` },
    };
  if (file.failure !== undefined)
    return { seq: job.seq, failure: file.failure };
  try {
    if (job.type === "write")
      return { seq: job.seq, written: write(file, job.id, job.stored) };
    return {
      seq: job.seq,
      finished: {
        size: file.position,
        sha256: new Uint8Array(file.hash.digest()),
        writtenEnd: file.writtenEnd,
      },
    };
  } catch (error) {
    const blobKind = (error as { blobKind?: ErrorKind }).blobKind;
    file.failure = {
      message: messageOf(error),
      ...(blobKind === undefined ? {} : { blobKind }),
    };
    return { seq: job.seq, failure: file.failure };
  }
}

parentPort?.on("message", (job: FileWriterJob) => {
  const reply = handle(job);
  if (reply !== undefined) parentPort?.postMessage(reply);
});
