/**
 * RemoteStore: the Store interface forwarded over the wire protocol (docs/protocol.md) to a
 * `blindsync serve` at the other end of any byte pipe — ssh's stdio in real use, an in-memory
 * pair in tests. It adds nothing to the contracts: every call becomes one or more requests, and
 * an error response is rethrown as a BlindsyncError of the same kind.
 *
 * Requests are pipelined: callers do not wait a round trip each, only for room in a bounded
 * window of requests in flight, so memory stays bounded on both sides while many concurrent
 * get/put/missing calls stream at the speed of the pipe.
 */

import {
  checkBlobs,
  checkId,
  checkKind,
  checkLockRequest,
} from "../rules/index.js";
import type { Readable, Writable } from "node:stream";
import { BlindsyncError, describeError } from "../../errors.js";
import {
  FrameDecoder,
  ID_LENGTH,
  MAX_FRAME_PAYLOAD,
  CAPABILITY_CPU_AES,
  PROTOCOL_VERSION,
  decodeServerMessage,
  encodeMessageFrame,
  encodeMessageFrameParts,
  type OpenMode,
  type RequestBody,
  type Response,
  type WireBlobInfo,
} from "../../protocol/index.js";
import { toHex } from "../../util/bytes.js";
import { cpuHasAes } from "../../util/cpu-features.js";
import type {
  BlobId,
  BlobInfo,
  BlobKind,
  BlobToPut,
  KeySlot,
  LockAttempt,
  LockRequest,
  LocksRemoved,
  Store,
} from "../store.js";

export interface RemoteTransport {
  /** Bytes from the server (ssh's stdout). */
  readonly readable: Readable;
  /** Bytes to the server (ssh's stdin). */
  readonly writable: Writable;
}

export interface RemoteStoreOptions {
  /** The repository path, resolved by the server (see docs/protocol.md). */
  readonly path: string;
  readonly mode: OpenMode;
  /** At most this many requests are sent and not yet fully answered. */
  readonly maxInFlightRequests?: number;
  /** At most this many request payload bytes are in flight (one larger request goes alone). */
  readonly maxInFlightBytes?: number;
  /** Runs at the end of close(), after the goodbye, e.g. to wait for ssh to exit. */
  readonly onClose?: () => Promise<void>;
  /** Extra words for the error of a lost connection, e.g. how the ssh process exited. */
  readonly describeDisconnect?: () => string | undefined;
}

const DEFAULT_MAX_IN_FLIGHT_REQUESTS = 64;
// Enough to keep a loopback or LAN link busy; more only raises the client's peak memory.
const DEFAULT_MAX_IN_FLIGHT_BYTES = 16 * 1024 * 1024;
/** A put is split into requests of about this many payload bytes, well under the frame cap. */
const PUT_BATCH_BYTES = 16 * 1024 * 1024;
/** Per blob in a put request: id, kind, length prefix. */
const PUT_BLOB_OVERHEAD = ID_LENGTH + 1 + 4;
/** Header room in a frame: type, request id, count. */
const REQUEST_OVERHEAD = 16;
const IDS_PER_REQUEST = 65_536;

interface PendingCall {
  readonly what: string;
  readonly bytes: number;
  /** Handles one response; returns true when it was the last one of this request. */
  readonly onResponse: (response: Response) => boolean;
  readonly reject: (error: BlindsyncError) => void;
}

type ResponseOf<T extends Response["type"]> = Extract<Response, { type: T }>;

export class RemoteStore implements Store {
  #appendOnly = false;
  #serverCapabilities: readonly string[] = [];
  readonly #transport: RemoteTransport;
  readonly #options: RemoteStoreOptions;
  readonly #maxRequests: number;
  readonly #maxBytes: number;
  readonly #decoder = new FrameDecoder();
  readonly #pending = new Map<number, PendingCall>();
  #nextId = 1;
  #inFlightBytes = 0;
  #needsDrain = false;
  #pumpScheduled = false;
  readonly #queue: { body: RequestBody; call: PendingCall }[] = [];
  #failure: BlindsyncError | undefined;
  #closing: Promise<void> | undefined;
  #hello:
    | { resolve: () => void; reject: (error: BlindsyncError) => void }
    | undefined;

  private constructor(transport: RemoteTransport, options: RemoteStoreOptions) {
    this.#transport = transport;
    this.#options = options;
    this.#maxRequests =
      options.maxInFlightRequests ?? DEFAULT_MAX_IN_FLIGHT_REQUESTS;
    this.#maxBytes = options.maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES;
    if (!Number.isInteger(this.#maxRequests) || this.#maxRequests < 1)
      throw new RangeError(`Invalid in-flight window ${this.#maxRequests}`);
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
    const store = new RemoteStore(transport, options);
    await store.#handshake();
    return store;
  }

  get appendOnly(): boolean {
    return this.#appendOnly;
  }

  /** Whether the server's hello said its CPU has AES instructions. */
  get serverHasAes(): boolean {
    return this.#serverCapabilities.includes(CAPABILITY_CPU_AES);
  }

  async readConfig(): Promise<Uint8Array> {
    return (await this.#call({ type: "read-config" }, "bytes", "readConfig()"))
      .bytes;
  }

  async listKeySlots(): Promise<KeySlot[]> {
    const response = await this.#call(
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
        this.#call(
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
      await this.#call({ type: "get", id }, "bytes", `get() of ${toHex(id)}`)
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
    this.#send(
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
          else state.failure = this.#unexpected(response, "list()");
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
    await this.#call(
      { type: "create", config, slot: firstKeySlot },
      "ok",
      "create()",
      config.length + firstKeySlot.bytes.length,
    );
  }

  async addKeySlot(slot: KeySlot): Promise<void> {
    await this.#call(
      { type: "add-key-slot", slot },
      "ok",
      `addKeySlot() of "${slot.name}"`,
      slot.bytes.length,
    );
  }

  async generation(): Promise<number> {
    return (await this.#call({ type: "generation" }, "number", "generation()"))
      .value;
  }

  async acquireLock(request: LockRequest): Promise<LockAttempt> {
    checkLockRequest(request);
    return (
      await this.#call(
        { type: "acquire-lock", request },
        "lock-attempt",
        "acquireLock()",
      )
    ).attempt;
  }

  async refreshLock(id: string, leaseMs: number): Promise<void> {
    await this.#call(
      { type: "refresh-lock", id, leaseMs },
      "ok",
      "refreshLock()",
    );
  }

  async releaseLock(id: string): Promise<void> {
    await this.#call({ type: "release-lock", id }, "ok", "releaseLock()");
  }

  async removeLocks(all: boolean): Promise<LocksRemoved> {
    return (
      await this.#call(
        { type: "remove-locks", all },
        "locks-removed",
        "removeLocks()",
      )
    ).result;
  }

  async bumpGeneration(): Promise<number> {
    return (
      await this.#call(
        { type: "bump-generation" },
        "number",
        "bumpGeneration()",
      )
    ).value;
  }

  async compact(): Promise<void> {
    await this.#call({ type: "compact" }, "ok", "compact()");
  }

  async removeKeySlot(name: string): Promise<void> {
    await this.#call(
      { type: "remove-key-slot", name },
      "ok",
      `removeKeySlot() of "${name}"`,
    );
  }

  async put(blobs: readonly BlobToPut[]): Promise<void> {
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
    // Sent in order, so a later batch never overtakes an earlier one on the server.
    await Promise.all(
      batches.map((batch) =>
        this.#call(
          { type: "put", blobs: batch },
          "ok",
          `put() of ${batch.length} blobs`,
          batch.reduce((sum, b) => sum + b.bytes.length + PUT_BLOB_OVERHEAD, 0),
        ),
      ),
    );
  }

  async delete(ids: readonly BlobId[]): Promise<void> {
    ids.forEach(checkId);
    const parts = ids.length === 0 ? [[]] : slices(ids, IDS_PER_REQUEST);
    await Promise.all(
      parts.map((slice) =>
        this.#call(
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
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    try {
      if (this.#failure === undefined)
        await this.#call({ type: "goodbye" }, "ok", "the goodbye", 0, true);
    } catch {
      // A server that vanished before answering the goodbye has nothing left to lose.
    } finally {
      this.#fail(
        new BlindsyncError("failed", "The remote store is closed"),
        false,
      );
      this.#transport.writable.end();
      await this.#options.onClose?.();
    }
  }

  async #handshake(): Promise<void> {
    const { readable, writable } = this.#transport;
    const helloDone = new Promise<void>((resolve, reject) => {
      this.#hello = { resolve, reject };
    });
    readable.on("data", (chunk: Buffer) => {
      this.#receive(chunk);
    });
    readable.on("end", () => {
      this.#lost("the server closed the connection");
    });
    readable.on("close", () => {
      this.#lost("the connection was closed");
    });
    readable.on("error", (error) => {
      this.#lost(`reading failed: ${describeError(error)}`, error);
    });
    writable.on("error", (error) => {
      this.#lost(`writing failed: ${describeError(error)}`, error);
    });
    writable.on("drain", () => {
      this.#needsDrain = false;
      this.#pump();
    });
    this.#write(
      encodeMessageFrame({
        type: "hello",
        version: PROTOCOL_VERSION,
        capabilities: cpuHasAes() ? [CAPABILITY_CPU_AES] : [],
        path: this.#options.path,
        mode: this.#options.mode,
      }),
    );
    try {
      await helloDone;
    } catch (error) {
      writable.end();
      throw error;
    }
  }

  #receive(chunk: Uint8Array): void {
    if (this.#failure !== undefined) return;
    try {
      for (const payload of this.#decoder.push(chunk)) {
        this.#dispatch(decodeServerMessage(payload));
        // A dispatched error response may have failed the connection.
        if (this.#isFailed()) return;
      }
    } catch (error) {
      const failure = asBlindsyncError(error);
      this.#fail(
        new BlindsyncError(
          "protocol",
          `The repository server broke the protocol: ${failure.message}`,
          {
            cause: error,
            hint:
              failure.hint ??
              "Check that both sides run the same blindsync version",
          },
        ),
      );
      this.#transport.readable.destroy();
    }
  }

  #dispatch(message: ReturnType<typeof decodeServerMessage>): void {
    // Until the server's hello arrives, #hello stays set, so any failure (#fail) rejects it.
    const hello = this.#hello;
    if (hello !== undefined) {
      if (message.type === "server-hello") {
        if (message.version !== PROTOCOL_VERSION)
          throw new BlindsyncError(
            "protocol",
            `The server speaks protocol version ${message.version}, this client ${PROTOCOL_VERSION}`,
            { hint: "Install the same blindsync version on both machines" },
          );
        this.#appendOnly = message.appendOnly;
        this.#serverCapabilities = message.capabilities;
        this.#hello = undefined;
        hello.resolve();
        return;
      }
      if (message.type === "error" && message.requestId === 0) {
        this.#fail(remoteError(message));
        return;
      }
      throw new BlindsyncError(
        "protocol",
        `Expected the server's hello, received "${message.type}"`,
      );
    }
    if (message.type === "server-hello")
      throw new BlindsyncError("protocol", "The server sent a second hello");
    if (message.type === "error" && message.requestId === 0) {
      this.#fail(remoteError(message));
      return;
    }
    const call = this.#pending.get(message.requestId);
    if (call === undefined)
      throw new BlindsyncError(
        "protocol",
        `The server answered request ${message.requestId}, which is not pending`,
      );
    if (call.onResponse(message)) {
      this.#pending.delete(message.requestId);
      this.#inFlightBytes -= call.bytes;
      this.#pump();
    }
  }

  /** Sends one request that is answered by one response of type `expected` (or an error). */
  #call<T extends Response["type"]>(
    body: RequestBody,
    expected: T,
    what: string,
    payloadBytes = 0,
    closing = false,
  ): Promise<ResponseOf<T>> {
    return new Promise<ResponseOf<T>>((resolve, reject) => {
      this.#send(
        body,
        {
          what,
          bytes: payloadBytes + REQUEST_OVERHEAD,
          onResponse: (response) => {
            if (response.type === expected) resolve(response as ResponseOf<T>);
            else reject(this.#unexpected(response, what));
            return true;
          },
          reject,
        },
        closing,
      );
    });
  }

  /**
   * Queues a request. Requests leave strictly in call order, each when the window has room, so
   * the batches of one put() can never overtake each other. Failures reach `call.reject`.
   */
  #send(body: RequestBody, call: PendingCall, closing = false): void {
    if (this.#failure !== undefined) {
      call.reject(this.#failure);
      return;
    }
    if (this.#closing !== undefined && !closing) {
      call.reject(new BlindsyncError("failed", "The remote store is closed"));
      return;
    }
    this.#queue.push({ body, call });
    // Requests made in the same tick (a restore asks for dozens of blobs at once) go out
    // together in one write instead of one system call each.
    if (!this.#pumpScheduled) {
      this.#pumpScheduled = true;
      queueMicrotask(() => {
        this.#pumpScheduled = false;
        this.#pump();
      });
    }
  }

  #pump(): void {
    const writable = this.#transport.writable;
    writable.cork();
    try {
      this.#pumpCorked();
    } finally {
      writable.uncork();
    }
  }

  #pumpCorked(): void {
    for (;;) {
      const next = this.#queue[0];
      if (next === undefined || this.#needsDrain) return;
      const roomForBytes =
        this.#pending.size === 0 ||
        this.#inFlightBytes + next.call.bytes <= this.#maxBytes;
      if (this.#pending.size >= this.#maxRequests || !roomForBytes) return;
      this.#queue.shift();
      const requestId = this.#allocateId();
      let parts: Uint8Array[];
      try {
        // In parts, so a put's blobs are written from their own buffers (one writev, no copy).
        parts = encodeMessageFrameParts({ ...next.body, requestId });
      } catch (error) {
        next.call.reject(asBlindsyncError(error));
        continue;
      }
      this.#pending.set(requestId, next.call);
      this.#inFlightBytes += next.call.bytes;
      for (const part of parts) this.#write(part);
    }
  }

  #isFailed(): boolean {
    return this.#failure !== undefined;
  }

  #allocateId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = id >= 0xffffffff ? 1 : id + 1;
      if (!this.#pending.has(id)) return id;
    }
  }

  #write(frame: Uint8Array): void {
    if (!this.#transport.writable.write(frame)) this.#needsDrain = true;
  }

  #unexpected(response: Response, what: string): BlindsyncError {
    if (response.type === "error") return remoteError(response);
    const error = new BlindsyncError(
      "protocol",
      `The server answered ${what} with "${response.type}"`,
    );
    this.#fail(error);
    return error;
  }

  #lost(reason: string, cause?: unknown): void {
    if (this.#failure !== undefined) return;
    const extra = this.#options.describeDisconnect?.();
    const why = extra === undefined ? reason : `${reason}; ${extra}`;
    const pending = [...this.#pending.values()].map((call) => call.what);
    const waitingFor =
      this.#hello !== undefined
        ? "the server's hello"
        : pending.length === 0
          ? "nothing"
          : pending.slice(0, 3).join(", ") +
            (pending.length > 3 ? ` and ${pending.length - 3} more` : "");
    this.#fail(
      new BlindsyncError(
        "transient",
        `Lost the connection to the repository server while waiting for ${waitingFor}: ${why}`,
        cause === undefined ? {} : { cause },
      ),
    );
  }

  /** Rejects the hello, every pending call and every later call with `error`. */
  #fail(error: BlindsyncError, rejectPending = true): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.#hello?.reject(error);
    this.#hello = undefined;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    const queued = this.#queue.splice(0).map((entry) => entry.call);
    if (rejectPending) for (const call of pending) call.reject(error);
    for (const call of queued) call.reject(error);
  }
}

function remoteError(response: ResponseOf<"error">): BlindsyncError {
  return new BlindsyncError(
    response.kind,
    response.message,
    response.hint === undefined ? {} : { hint: response.hint },
  );
}

function asBlindsyncError(error: unknown): BlindsyncError {
  if (error instanceof BlindsyncError) return error;
  return new BlindsyncError("protocol", describeError(error), { cause: error });
}

function slices<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(items.slice(i, i + size));
  return out.length === 0 ? [[]] : out;
}
