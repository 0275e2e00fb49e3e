/**
 * The client's half of the wire protocol (docs/protocol.md), below RemoteStore: the hello
 * exchange, requests framed and queued in call order, a bounded window of requests in flight,
 * responses routed to their callers by request id, the goodbye, and one failure (a lost
 * connection, a broken protocol) passed to every call waiting or yet to come. It knows no
 * Store method: RemoteStore turns each into requests and reads their responses.
 *
 * Requests are pipelined: callers do not wait a round trip each, only for room in the window,
 * so memory stays bounded on both sides while many concurrent get/put/missing calls stream at
 * the speed of the pipe.
 *
 * Length: just over 400 lines with one job, the client's end of the pipe; the hello (with its
 * capabilities, such as sync points) and the window share the failure state, so they stay
 * together.
 */
import type { Readable, Writable } from "node:stream";
import { BlindsyncError, describeError } from "../../errors.js";
import {
  FrameDecoder,
  CAPABILITY_CPU_AES,
  CAPABILITY_SYNC_POINTS,
  PROTOCOL_VERSION,
  decodeServerMessage,
  encodeMessageFrame,
  encodeMessageFrameParts,
  type OpenMode,
  type RequestBody,
  type Response,
} from "../../protocol/index.js";
import { cpuHasAes } from "../../util/cpu-features.js";
import {
  asBlindsyncError,
  brokenProtocolError,
  lostConnectionError,
  remoteError,
} from "./client-errors.js";

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
/** Header room in a frame: type, request id, count. */
export const REQUEST_OVERHEAD = 16;

export interface PendingCall {
  readonly what: string;
  readonly bytes: number;
  /** Handles one response; returns true when it was the last one of this request. */
  readonly onResponse: (response: Response) => boolean;
  readonly reject: (error: BlindsyncError) => void;
}

export type ResponseOf<T extends Response["type"]> = Extract<
  Response,
  { type: T }
>;

export class RequestPipeline {
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
  static async open(
    transport: RemoteTransport,
    options: RemoteStoreOptions,
  ): Promise<RequestPipeline> {
    const pipeline = new RequestPipeline(transport, options);
    await pipeline.#handshake();
    return pipeline;
  }

  /** Whether the server's hello said the repository is opened append-only. */
  get appendOnly(): boolean {
    return this.#appendOnly;
  }

  /** The capabilities the server's hello named. */
  get serverCapabilities(): readonly string[] {
    return this.#serverCapabilities;
  }

  /** Sends one request that is answered by one response of type `expected` (or an error). */
  call<T extends Response["type"]>(
    body: RequestBody,
    expected: T,
    what: string,
    payloadBytes = 0,
  ): Promise<ResponseOf<T>> {
    return this.#call(body, expected, what, payloadBytes, false);
  }

  /**
   * Queues a request. Requests leave strictly in call order, each when the window has room, so
   * the batches of one put() can never overtake each other. Failures reach `call.reject`.
   */
  send(body: RequestBody, call: PendingCall, closing = false): void {
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

  /**
   * The error for a response of a type the request does not expect: the server's own error, or
   * a broken protocol, which fails the whole connection.
   */
  unexpected(response: Response, what: string): BlindsyncError {
    if (response.type === "error") return remoteError(response);
    const error = new BlindsyncError(
      "protocol",
      `The server answered ${what} with "${response.type}"`,
    );
    this.#fail(error);
    return error;
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

  #call<T extends Response["type"]>(
    body: RequestBody,
    expected: T,
    what: string,
    payloadBytes: number,
    closing: boolean,
  ): Promise<ResponseOf<T>> {
    return new Promise<ResponseOf<T>>((resolve, reject) => {
      this.send(
        body,
        {
          what,
          bytes: payloadBytes + REQUEST_OVERHEAD,
          onResponse: (response) => {
            if (response.type === expected) resolve(response as ResponseOf<T>);
            else reject(this.unexpected(response, what));
            return true;
          },
          reject,
        },
        closing,
      );
    });
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
        // sync-points: this client may send put-buffered and flush, to a server that lists it.
        capabilities: cpuHasAes()
          ? [CAPABILITY_CPU_AES, CAPABILITY_SYNC_POINTS]
          : [CAPABILITY_SYNC_POINTS],
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
      this.#fail(brokenProtocolError(error));
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

  #lost(reason: string, cause?: unknown): void {
    if (this.#failure !== undefined) return;
    const extra = this.#options.describeDisconnect?.();
    const why = extra === undefined ? reason : `${reason}; ${extra}`;
    this.#fail(
      lostConnectionError(
        why,
        this.#hello !== undefined
          ? "hello"
          : [...this.#pending.values()].map((call) => call.what),
        cause,
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
