/**
 * The server half of the wire protocol (docs/protocol.md): exposes any Store over a byte pipe.
 * `blindsync serve` runs it on stdin/stdout with a SqliteStore; tests run it on in-memory pipes.
 *
 * It writes nothing but frames to `output` (a stray byte would corrupt the client's stream)
 * and reports only through `log`. Requests are handled one at a time, in arrival order, and
 * reading pauses meanwhile, so a fast client is slowed by backpressure instead of growing a
 * queue here.
 *
 * Just over 400 lines: one short handler per request type beside the dispatch they share, and
 * the corking of a burst of gets.
 */

import type { Readable, Writable } from "node:stream";
import {
  BlindsyncError,
  describeError,
  isBlindsyncError,
} from "../../errors.js";
import {
  FrameDecoder,
  MAX_FRAME_PAYLOAD,
  CAPABILITY_CPU_AES,
  PROTOCOL_VERSION,
  decodeClientMessage,
  encodeMessage,
  encodeMessageFrameParts,
  type ClientHello,
  type OpenMode,
  type Request,
  type Response,
} from "../../protocol/index.js";
import { keepLocks, type LockKeeper } from "../held-locks.js";
import type { Store } from "../store.js";
import { toHex } from "../../util/bytes.js";
import { cpuHasAes } from "../../util/cpu-features.js";

export interface ServeConnectionOptions {
  readonly input: Readable;
  readonly output: Writable;
  /**
   * Opens the repository named in the client's hello. Throwing refuses the connection; the
   * error (kind, message, hint) is sent to the client.
   */
  readonly openStore: (path: string, mode: OpenMode) => Promise<Store>;
  readonly log: (line: string) => void;
}

/** list() answers in pages of this many items, far under the frame cap (41 bytes each). */
const LIST_PAGE_ITEMS = 4096;
/** Error texts are cut to this length so an error response always encodes. */
const MAX_ERROR_TEXT = 4000;
/** A "bytes" response around its payload: type, request id, length (with room to spare). */
const BYTES_RESPONSE_OVERHEAD = 16;

/**
 * Serves one connection until the client says goodbye, the input ends, or the client breaks
 * the protocol. Always closes the store it opened. Never rejects: failures are logged and, when
 * the connection still works, sent to the client.
 */
export async function serveConnection(
  options: ServeConnectionOptions,
): Promise<void> {
  const { input, output, log } = options;
  const writer = new FrameWriter(output);
  const decoder = new FrameDecoder();
  let store: Store | undefined;
  let keeper: LockKeeper | undefined;
  let ended: "goodbye" | "protocol" | "refused" | undefined;
  try {
    reading: for await (const chunk of input as AsyncIterable<Uint8Array>) {
      let payloads: Uint8Array[];
      try {
        payloads = decoder.push(chunk);
      } catch (error) {
        await refuse(writer, log, error, "protocol");
        ended = "protocol";
        break;
      }
      for (const payload of payloads) {
        let message: ClientHello | Request;
        try {
          message = decodeClientMessage(payload);
        } catch (error) {
          await refuse(writer, log, error, "protocol");
          ended = "protocol";
          break reading;
        }
        if (store === undefined) {
          if (message.type !== "hello") {
            await refuse(
              writer,
              log,
              new BlindsyncError(
                "protocol",
                `Expected the client's hello, received "${message.type}"`,
              ),
              "protocol",
            );
            ended = "protocol";
            break reading;
          }
          try {
            // The connection's locks, released when it ends however it ends (held-locks.ts).
            keeper = keepLocks(await openFromHello(message, options));
            store = keeper.store;
          } catch (error) {
            await refuse(writer, log, error, "refused");
            ended = "refused";
            break reading;
          }
          await writer.send({
            type: "server-hello",
            version: PROTOCOL_VERSION,
            capabilities: cpuHasAes() ? [CAPABILITY_CPU_AES] : [],
            appendOnly: store.appendOnly,
          });
          continue;
        }
        if (message.type === "hello") {
          await refuse(
            writer,
            log,
            new BlindsyncError("protocol", "The client sent a second hello"),
            "protocol",
          );
          ended = "protocol";
          break reading;
        }
        if (message.type === "goodbye") {
          await writer.send({ type: "ok", requestId: message.requestId });
          ended = "goodbye";
          break reading;
        }
        // The answers to a burst of gets leave in one write (see FrameWriter.hold); any other
        // request first sends what is held, so a slow one (a put's commit) delays no answer.
        if (message.type === "get") writer.hold();
        else writer.release();
        await handle(store, message, writer, log);
      }
      writer.release();
    }
    if (ended === undefined) {
      try {
        decoder.end();
        // A connection that never said hello (a probe, a cancelled ssh) is not worth a line.
        if (store !== undefined)
          log("The client disconnected without a goodbye");
      } catch (error) {
        log(`The client disconnected inside a frame: ${describeError(error)}`);
      }
    }
  } catch (error) {
    log(`Connection failed: ${describeError(error)}`);
  } finally {
    if (store !== undefined) {
      try {
        // A client that is gone (its ssh killed by Ctrl-C) cannot release its leases, and a
        // prune would wait for them to run out.
        await keeper?.releaseHeld();
        await store.close();
      } catch (error) {
        log(`Closing the repository failed: ${describeError(error)}`);
      }
    }
    await writer.end();
  }
}

async function openFromHello(
  hello: ClientHello,
  options: ServeConnectionOptions,
): Promise<Store> {
  if (hello.version !== PROTOCOL_VERSION)
    throw new BlindsyncError(
      "protocol",
      `The client speaks protocol version ${hello.version}, this server ${PROTOCOL_VERSION}`,
      { hint: "Install the same blindsync version on both machines" },
    );
  return options.openStore(hello.path, hello.mode);
}

/** Sends a connection-level error (request id 0) and logs it. */
async function refuse(
  writer: FrameWriter,
  log: (line: string) => void,
  error: unknown,
  why: "protocol" | "refused",
): Promise<void> {
  const response = errorResponse(0, error);
  // A refusal reaches the client as an error response; logging it too would show it twice,
  // since ssh relays the server's stderr to the client.
  if (why === "protocol") log(`Ending the connection: ${response.message}`);
  await writer.send(response);
}

async function handle(
  store: Store,
  request: Request,
  writer: FrameWriter,
  log: (line: string) => void,
): Promise<void> {
  const requestId = request.requestId;
  try {
    switch (request.type) {
      case "read-config":
        await writer.send({
          type: "bytes",
          requestId,
          bytes: await store.readConfig(),
        });
        return;
      case "list-key-slots":
        await writer.send({
          type: "key-slots",
          requestId,
          slots: await store.listKeySlots(),
        });
        return;
      case "missing":
        await writer.send({
          type: "ids",
          requestId,
          ids: await store.missing(request.ids),
        });
        return;
      case "get": {
        const bytes = await store.get(request.id);
        // Every blob a client can write fits in one frame, so a stored blob that no frame can
        // carry was changed on the server: an integrity error of this blob (check and restore
        // name it and go on), not a failure of the whole connection.
        if (bytes.length > MAX_FRAME_PAYLOAD - BYTES_RESPONSE_OVERHEAD)
          throw new BlindsyncError(
            "integrity",
            `Blob "${toHex(request.id.subarray(0, 4))}" is stored with ${bytes.length} bytes, more than any blob may have (the protocol carries ${MAX_FRAME_PAYLOAD})`,
          );
        await writer.send({ type: "bytes", requestId, bytes });
        return;
      }
      case "list": {
        let page = [];
        for await (const info of store.list(request.kind)) {
          page.push(info);
          if (page.length >= LIST_PAGE_ITEMS) {
            await writer.send({ type: "list-items", requestId, items: page });
            page = [];
          }
        }
        if (page.length > 0)
          await writer.send({ type: "list-items", requestId, items: page });
        await writer.send({ type: "list-end", requestId });
        return;
      }
      case "create":
        await store.create(request.config, request.slot);
        break;
      case "add-key-slot":
        await store.addKeySlot(request.slot);
        break;
      case "remove-key-slot":
        await store.removeKeySlot(request.name);
        break;
      case "put":
        await store.put(request.blobs);
        break;
      case "delete":
        await store.delete(request.ids);
        break;
      case "compact":
        await store.compact();
        break;
      case "generation":
        await writer.send({
          type: "number",
          requestId,
          value: await store.generation(),
        });
        return;
      case "bump-generation":
        await writer.send({
          type: "number",
          requestId,
          value: await store.bumpGeneration(),
        });
        return;
      case "acquire-lock":
        await writer.send({
          type: "lock-attempt",
          requestId,
          attempt: await store.acquireLock(request.request),
        });
        return;
      case "refresh-lock":
        await store.refreshLock(request.id, request.leaseMs);
        break;
      case "release-lock":
        await store.releaseLock(request.id);
        break;
      case "remove-locks":
        await writer.send({
          type: "locks-removed",
          requestId,
          result: await store.removeLocks(request.all),
        });
        return;
      case "goodbye":
        break;
    }
    await writer.send({ type: "ok", requestId });
  } catch (error) {
    // A store throws RangeError for an argument the contract forbids (a lock owner with a
    // newline, a lease of 0): the client broke the protocol, the server did not fail.
    const refused =
      error instanceof RangeError
        ? new BlindsyncError(
            "protocol",
            `Malformed "${request.type}" request: ${error.message}`,
          )
        : error;
    const response = errorResponse(requestId, refused);
    if (!isBlindsyncError(refused))
      log(`${request.type} failed: ${response.message}`);
    await writer.send(response);
  }
}

function errorResponse(
  requestId: number,
  error: unknown,
): Extract<Response, { type: "error" }> {
  if (isBlindsyncError(error))
    return {
      type: "error",
      requestId,
      kind: error.kind,
      message: cut(error.message),
      hint: error.hint === undefined ? undefined : cut(error.hint),
    };
  // A bug or an I/O failure on the server: the client still gets one clear line.
  return {
    type: "error",
    requestId,
    kind: "failed",
    message: cut(`The repository server failed: ${describeError(error)}`),
    hint: undefined,
  };
}

function cut(text: string): string {
  return text.length <= MAX_ERROR_TEXT
    ? text
    : `${text.slice(0, MAX_ERROR_TEXT)}…`;
}

/**
 * Writes frames and waits for `drain` when the pipe is full, so memory stays bounded. Between
 * hold() and release() the frames gather in the stream (corked) and leave in one write: a
 * restore asks for dozens of small blobs at a time, and one write per answer cost a system
 * call here, a read and an ssh packet each on the way (docs/performance.md, "Restore of many
 * small files"). A full pipe ends the hold, so what gathers stays under the stream's
 * high-water mark plus one frame.
 */
class FrameWriter {
  readonly #output: Writable;
  #broken = false;
  #held = false;

  constructor(output: Writable) {
    this.#output = output;
    output.on("error", () => {
      // Reported by the failing send or end; the listener keeps it from crashing the process.
      this.#broken = true;
    });
  }

  async send(
    response:
      | Response
      | Extract<Parameters<typeof encodeMessage>[0], { type: "server-hello" }>,
  ): Promise<void> {
    if (this.#broken || this.#output.writableEnded || this.#output.destroyed)
      throw new BlindsyncError("transient", "The client connection is closed");
    // A blob answer is written from the buffer the store returned, not copied into a frame.
    let ready = true;
    this.#output.cork();
    for (const part of encodeMessageFrameParts(response)) {
      const accepted = this.#output.write(part);
      ready &&= accepted;
    }
    this.#output.uncork();
    if (ready) return;
    // No drain can come while frames are held back.
    this.release();
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        this.#output.off("drain", onDrain);
        this.#output.off("close", onClose);
        this.#output.off("error", done);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onDrain = () => {
        done();
      };
      const onClose = () => {
        done(new Error("the output closed"));
      };
      this.#output.on("drain", onDrain);
      this.#output.on("close", onClose);
      this.#output.on("error", done);
    });
  }

  /** Holds the frames sent from now on, until release() or a full pipe. */
  hold(): void {
    if (this.#held || this.#broken || this.#output.writableEnded) return;
    this.#held = true;
    this.#output.cork();
  }

  /** Sends the held frames, in one write. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.#output.uncork();
  }

  async end(): Promise<void> {
    this.release();
    if (this.#output.writableEnded || this.#output.destroyed) return;
    await new Promise<void>((resolve) => {
      this.#output.end(() => {
        resolve();
      });
    });
  }
}
