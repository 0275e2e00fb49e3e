/**
 * A sealing worker thread: compresses, pads and encrypts blobs for the backup pipeline. Each
 * worker draws its own random session id (SealingSession), so nonces never repeat across
 * workers, processes or restarts. Plaintext arrives and ciphertext leaves as transferred
 * buffers: no copies between threads.
 */
import { parentPort, workerData } from "node:worker_threads";
import { SealingSession } from "../../crypto/index.js";
import { sealBlob, type SealerParams } from "../../repo/index.js";
import type { BlobKind } from "../../store/index.js";

export interface SealJob {
  readonly seq: number;
  readonly kind: BlobKind;
  readonly id: Uint8Array;
  readonly plaintext: Uint8Array;
  readonly compress: boolean;
}

export type SealReply =
  | { readonly seq: number; readonly bytes: Uint8Array }
  | { readonly seq: number; readonly error: string };

const params = workerData as SealerParams;
const keys = { encKey: params.encKey, idKey: params.idKey };
let session = new SealingSession();

parentPort?.on("message", (job: SealJob) => {
  let reply: SealReply;
  try {
    if (session.exhausted) session = new SealingSession();
    const bytes = sealBlob({
      keys,
      repositoryId: params.repositoryId,
      session,
      kind: job.kind,
      id: job.id,
      plaintext: job.plaintext,
      compress: job.compress,
    });
    reply = { seq: job.seq, bytes };
    parentPort?.postMessage(reply, [bytes.buffer as ArrayBuffer]);
  } catch (error) {
    reply = {
      seq: job.seq,
      error: error instanceof Error ? error.message : String(error),
    };
    parentPort?.postMessage(reply);
  }
});
