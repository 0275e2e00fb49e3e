/**
 * RemoteStore: the Store interface forwarded over the wire protocol (docs/protocol.md) to a
 * `blindsync serve` at the other end of any byte pipe — ssh's stdio in real use, an in-memory
 * pair in tests. It adds nothing to the contracts: every call becomes one or more requests, and
 * an error response is rethrown as a BlindsyncError of the same kind.
 *
 * This file says which requests each Store call makes (a put cut into batches under the frame
 * cap, long id lists into slices, a listing streamed page by page); request-pipeline.ts sends
 * them, pipelined in a bounded window, and routes the responses back.
 */

import {
  checkBlobs,
  checkId,
  checkKind,
  checkLockRequest,
} from "../rules/index.js";
import { BlindsyncError } from "../../errors.js";
import {
  ID_LENGTH,
  MAX_FRAME_PAYLOAD,
  CAPABILITY_CPU_AES,
  CAPABILITY_SYNC_POINTS,
  type WireBlobInfo,
} from "../../protocol/index.js";
import { toHex } from "../../util/bytes.js";
import type {
  BlobId,
  BlobInfo,
  BlobKind,
  BlobToPut,
  KeySlot,
  LockAttempt,
  LockRequest,
  LocksRemoved,
  PutOptions,
  Store,
} from "../store.js";
import {
  REQUEST_OVERHEAD,
  RequestPipeline,
  type RemoteStoreOptions,
  type RemoteTransport,
} from "./request-pipeline.js";

export type { RemoteStoreOptions, RemoteTransport };

/** A put is split into requests of about this many payload bytes, well under the frame cap. */
const PUT_BATCH_BYTES = 16 * 1024 * 1024;
/** Per blob in a put request: id, kind, length prefix. */
const PUT_BLOB_OVERHEAD = ID_LENGTH + 1 + 4;
const IDS_PER_REQUEST = 65_536;

export class RemoteStore implements Store {
  readonly #pipeline: RequestPipeline;

  private constructor(pipeline: RequestPipeline) {
    this.#pipeline = pipeline;
  }

  /**
   * Sends the hello and waits for the server's. Rejects with the server's error (for example
   * no-repository, or a path outside --restrict-to-path), or with 'transient' when the
   * connection ends first.
   */
  static async connect(
    transport: RemoteTransport,
    options: RemoteStoreOptions,
  ): Promise<RemoteStore> {
    return new RemoteStore(await RequestPipeline.open(transport, options));
  }

  get appendOnly(): boolean {
    return this.#pipeline.appendOnly;
  }

  /** Whether the server's hello said its CPU has AES instructions. */
  get serverHasAes(): boolean {
    return this.#pipeline.serverCapabilities.includes(CAPABILITY_CPU_AES);
  }

  async readConfig(): Promise<Uint8Array> {
    return (
      await this.#pipeline.call(
        { type: "read-config" },
        "bytes",
        "readConfig()",
      )
    ).bytes;
  }

  async listKeySlots(): Promise<KeySlot[]> {
    const response = await this.#pipeline.call(
      { type: "list-key-slots" },
      "key-slots",
      "listKeySlots()",
    );
    return [...response.slots];
  }

  async missing(ids: readonly BlobId[]): Promise<BlobId[]> {
    ids.forEach(checkId);
    // Deduplicated here, since each request only sees its own slice of the ids.
    const seen = new Set<string>();
    const unique = ids.filter((id) => {
      const key = toHex(id);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const answers = await Promise.all(
      slices(unique, IDS_PER_REQUEST).map((slice) =>
        this.#pipeline.call(
          { type: "missing", ids: slice },
          "ids",
          `missing() of ${slice.length} ids`,
          slice.length * ID_LENGTH,
        ),
      ),
    );
    return answers.flatMap((answer) => answer.ids);
  }

  async get(id: BlobId): Promise<Uint8Array> {
    checkId(id);
    return (
      await this.#pipeline.call(
        { type: "get", id },
        "bytes",
        `get() of ${toHex(id)}`,
      )
    ).bytes;
  }

  async *list(kind?: BlobKind): AsyncIterable<BlobInfo> {
    if (kind !== undefined) checkKind(kind);
    const pages: WireBlobInfo[][] = [];
    // An object, so the checks below see the writes made by the response callbacks.
    const state: { done: boolean; failure: BlindsyncError | undefined } = {
      done: false,
      failure: undefined,
    };
    let wake: (() => void) | undefined;
    let abandoned = false;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    this.#pipeline.send(
      { type: "list", kind },
      {
        what: "list()",
        bytes: REQUEST_OVERHEAD,
        onResponse: (response) => {
          if (response.type === "list-items") {
            // After an early break the rest of the stream is read and dropped.
            if (!abandoned) pages.push([...response.items]);
            notify();
            return false;
          }
          if (response.type === "list-end") state.done = true;
          else state.failure = this.#pipeline.unexpected(response, "list()");
          notify();
          return true;
        },
        reject: (error) => {
          state.failure = error;
          notify();
        },
      },
    );
    try {
      for (;;) {
        const page = pages.shift();
        if (page !== undefined) {
          yield* page;
          continue;
        }
        if (state.failure !== undefined) throw state.failure;
        if (state.done) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      abandoned = true;
      pages.length = 0;
    }
  }

  async create(config: Uint8Array, firstKeySlot: KeySlot): Promise<void> {
    await this.#pipeline.call(
      { type: "create", config, slot: firstKeySlot },
      "ok",
      "create()",
      config.length + firstKeySlot.bytes.length,
    );
  }

  async addKeySlot(slot: KeySlot): Promise<void> {
    await this.#pipeline.call(
      { type: "add-key-slot", slot },
      "ok",
      `addKeySlot() of "${slot.name}"`,
      slot.bytes.length,
    );
  }

  async generation(): Promise<number> {
    return (
      await this.#pipeline.call(
        { type: "generation" },
        "number",
        "generation()",
      )
    ).value;
  }

  async acquireLock(request: LockRequest): Promise<LockAttempt> {
    checkLockRequest(request);
    return (
      await this.#pipeline.call(
        { type: "acquire-lock", request },
        "lock-attempt",
        "acquireLock()",
      )
    ).attempt;
  }

  async refreshLock(id: string, leaseMs: number): Promise<void> {
    await this.#pipeline.call(
      { type: "refresh-lock", id, leaseMs },
      "ok",
      "refreshLock()",
    );
  }

  async releaseLock(id: string): Promise<void> {
    await this.#pipeline.call(
      { type: "release-lock", id },
      "ok",
      "releaseLock()",
    );
  }

  async removeLocks(all: boolean): Promise<LocksRemoved> {
    return (
      await this.#pipeline.call(
        { type: "remove-locks", all },
        "locks-removed",
        "removeLocks()",
      )
    ).result;
  }

  async bumpGeneration(): Promise<number> {
    return (
      await this.#pipeline.call(
        { type: "bump-generation" },
        "number",
        "bumpGeneration()",
      )
    ).value;
  }

  async compact(): Promise<void> {
    await this.#pipeline.call({ type: "compact" }, "ok", "compact()");
  }

  async removeKeySlot(name: string): Promise<void> {
    await this.#pipeline.call(
      { type: "remove-key-slot", name },
      "ok",
      `removeKeySlot() of "${name}"`,
    );
  }

  /**
   * Whether the server keeps sync points (its hello listed CAPABILITY_SYNC_POINTS): only then
   * are puts sent buffered. An older server gets plain puts, each durable when answered.
   */
  get #syncPoints(): boolean {
    return this.#pipeline.serverCapabilities.includes(CAPABILITY_SYNC_POINTS);
  }

  /**
   * With `buffer`, and a server that keeps sync points, the batches go as "put-buffered": the
   * server may hold them uncommitted until flush() or a durable write.
   */
  async put(
    blobs: readonly BlobToPut[],
    options: PutOptions = {},
  ): Promise<void> {
    // The whole call is checked before anything is sent, so a bad blob stores nothing.
    checkBlobs(blobs);
    for (const blob of blobs) {
      if (
        blob.bytes.length + PUT_BLOB_OVERHEAD + REQUEST_OVERHEAD >
        MAX_FRAME_PAYLOAD
      )
        throw new RangeError(
          `A blob of ${blob.bytes.length} bytes is larger than the protocol carries (${MAX_FRAME_PAYLOAD} bytes)`,
        );
    }
    const batches: BlobToPut[][] = [[]];
    let batchBytes = 0;
    for (const blob of blobs) {
      const size = blob.bytes.length + PUT_BLOB_OVERHEAD;
      let batch = batches[batches.length - 1] ?? [];
      if (batch.length > 0 && batchBytes + size > PUT_BATCH_BYTES) {
        batch = [];
        batches.push(batch);
        batchBytes = 0;
      }
      batch.push(blob);
      batchBytes += size;
    }
    const type =
      options.buffer === true && this.#syncPoints ? "put-buffered" : "put";
    // Sent in order, so a later batch never overtakes an earlier one on the server.
    await Promise.all(
      batches.map((batch) =>
        this.#pipeline.call(
          { type, blobs: batch },
          "ok",
          `put() of ${batch.length} blobs`,
          batch.reduce((sum, b) => sum + b.bytes.length + PUT_BLOB_OVERHEAD, 0),
        ),
      ),
    );
  }

  /**
   * A sync point: resolves once the server has made every buffered put durable. Against an
   * older server there is nothing to wait for: its puts were durable when answered.
   */
  async flush(): Promise<void> {
    if (!this.#syncPoints) return;
    await this.#pipeline.call({ type: "flush" }, "ok", "flush()");
  }

  async delete(ids: readonly BlobId[]): Promise<void> {
    ids.forEach(checkId);
    const parts = ids.length === 0 ? [[]] : slices(ids, IDS_PER_REQUEST);
    await Promise.all(
      parts.map((slice) =>
        this.#pipeline.call(
          { type: "delete", ids: slice },
          "ok",
          `delete() of ${slice.length} ids`,
          slice.length * ID_LENGTH,
        ),
      ),
    );
  }

  /** Says goodbye, waits for the answer and ends the connection. Idempotent. */
  close(): Promise<void> {
    return this.#pipeline.close();
  }
}

function slices<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(items.slice(i, i + size));
  return out.length === 0 ? [[]] : out;
}
