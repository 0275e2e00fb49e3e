/**
 * The messages of the blindsync wire protocol and their binary encoding (docs/protocol.md is the
 * byte-by-byte reference). Pure: no I/O, no knowledge of stores beyond the shapes they exchange.
 *
 * Every decoder is strict: an unknown type, a short or overlong payload, a bad enum value or
 * invalid UTF-8 throws BlindsyncError('protocol'), so nothing a peer sends is half-understood.
 */

import { BlindsyncError, type ErrorKind } from "../errors.js";
import { FRAME_HEADER_LENGTH, MAX_FRAME_PAYLOAD } from "./frame.js";

export const PROTOCOL_VERSION = 1;

/** Opens the client hello so a server can tell a blindsync client from anything else. */
export const HELLO_MAGIC = new Uint8Array([
  0x42, 0x4c, 0x4e, 0x44, 0x53, 0x59, 0x4e, 0x43,
]); // "BLNDSYNC"

export const ID_LENGTH = 32;

/**
 * Listed in a hello when that machine's CPU has AES instructions. Informational: a client that
 * sees it in both hellos asks ssh for AES-GCM on its next connection (store/remote/ssh-ciphers.ts).
 */
export const CAPABILITY_CPU_AES = "cpu-aes";

export type WireBlobKind = "data" | "tree" | "snapshot";
export type OpenMode = "open" | "create";

export interface WireKeySlot {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface WireBlob {
  readonly id: Uint8Array;
  readonly kind: WireBlobKind;
  readonly bytes: Uint8Array;
}

export interface WireBlobInfo {
  readonly id: Uint8Array;
  readonly kind: WireBlobKind;
  readonly length: number;
}

export interface ClientHello {
  readonly type: "hello";
  readonly version: number;
  readonly capabilities: readonly string[];
  readonly path: string;
  readonly mode: OpenMode;
}

export interface ServerHello {
  readonly type: "server-hello";
  readonly version: number;
  readonly capabilities: readonly string[];
  readonly appendOnly: boolean;
}

export type RequestBody =
  | { readonly type: "read-config" }
  | { readonly type: "list-key-slots" }
  | { readonly type: "missing"; readonly ids: readonly Uint8Array[] }
  | { readonly type: "get"; readonly id: Uint8Array }
  | { readonly type: "list"; readonly kind: WireBlobKind | undefined }
  | {
      readonly type: "create";
      readonly config: Uint8Array;
      readonly slot: WireKeySlot;
    }
  | { readonly type: "add-key-slot"; readonly slot: WireKeySlot }
  | { readonly type: "remove-key-slot"; readonly name: string }
  | { readonly type: "put"; readonly blobs: readonly WireBlob[] }
  | { readonly type: "delete"; readonly ids: readonly Uint8Array[] }
  | {
      /** Small coordination calls (locks, prune generation), answered with "bytes" of JSON. */
      readonly type: "control";
      readonly op: ControlOp;
      readonly args: Uint8Array;
    }
  | { readonly type: "goodbye" };

/** The control operations; their JSON arguments and answers are listed in docs/protocol.md. */
export const CONTROL_OPS = [
  "generation",
  "acquire-lock",
  "refresh-lock",
  "release-lock",
  "remove-locks",
  "bump-generation",
  "compact",
] as const;
export type ControlOp = (typeof CONTROL_OPS)[number];

export type Request = RequestBody & { readonly requestId: number };

export type ResponseBody =
  | { readonly type: "ok" }
  | { readonly type: "bytes"; readonly bytes: Uint8Array }
  | { readonly type: "key-slots"; readonly slots: readonly WireKeySlot[] }
  | { readonly type: "ids"; readonly ids: readonly Uint8Array[] }
  | { readonly type: "list-items"; readonly items: readonly WireBlobInfo[] }
  | { readonly type: "list-end" }
  | {
      readonly type: "error";
      readonly kind: ErrorKind;
      readonly message: string;
      readonly hint: string | undefined;
    };

/** Request id 0 is reserved for errors about the connection itself (e.g. a refused hello). */
export type Response = ResponseBody & { readonly requestId: number };

/** Every message one side can receive after the hellos, and the hellos themselves. */
export type Message = ClientHello | ServerHello | Request | Response;

const TYPE = {
  hello: 0x01,
  "server-hello": 0x02,
  "read-config": 0x10,
  "list-key-slots": 0x11,
  missing: 0x12,
  get: 0x13,
  list: 0x14,
  create: 0x15,
  "add-key-slot": 0x16,
  "remove-key-slot": 0x17,
  put: 0x18,
  delete: 0x19,
  control: 0x1a,
  goodbye: 0x1f,
  ok: 0x80,
  bytes: 0x81,
  "key-slots": 0x82,
  ids: 0x83,
  "list-items": 0x84,
  "list-end": 0x85,
  error: 0xff,
} as const;

const BLOB_KIND_CODES: Record<WireBlobKind, number> = {
  data: 1,
  tree: 2,
  snapshot: 3,
};
const BLOB_KIND_BY_CODE: ReadonlyMap<number, WireBlobKind> = new Map(
  Object.entries(BLOB_KIND_CODES).map(([kind, code]) => [
    code,
    kind as WireBlobKind,
  ]),
);

/** Every ErrorKind of src/errors.ts, so a kind outside it is a protocol error on decode. */
export const ERROR_KINDS: readonly ErrorKind[] = [
  "usage",
  "no-repository",
  "not-found",
  "locked",
  "wrong-passphrase",
  "integrity",
  "rollback",
  "partial",
  "append-only",
  "protocol",
  "transient",
  "failed",
];

/** Bounds short strings (names, paths, messages) far below the frame cap. */
const MAX_STRING_BYTES = 0xffff; // a u16 length
const MAX_CAPABILITIES = 64;
/** Payloads from this size on are decoded as views of their frame, not copies (Reader.raw). */
const VIEW_FROM_BYTES = 64 * 1024;
/** Frame parts this long are written by reference rather than copied (finishFrameParts). */
const BY_REFERENCE = 16 * 1024;

class Writer {
  #parts: Uint8Array[] = [];
  #length = 0;

  u8(value: number): this {
    return this.#push(Uint8Array.of(value));
  }

  u16(value: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value);
    return this.#push(b);
  }

  u32(value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value);
    return this.#push(b);
  }

  raw(bytes: Uint8Array): this {
    return this.#push(bytes);
  }

  id(id: Uint8Array): this {
    if (id.length !== ID_LENGTH)
      throw new RangeError(
        `A blob id must be ${ID_LENGTH} bytes, not ${id.length}`,
      );
    return this.#push(id);
  }

  bytes(bytes: Uint8Array): this {
    return this.u32(bytes.length).#push(bytes);
  }

  string(text: string): this {
    const encoded = new TextEncoder().encode(text);
    if (encoded.length > MAX_STRING_BYTES)
      throw new RangeError(
        `String of ${encoded.length} bytes exceeds ${MAX_STRING_BYTES}`,
      );
    return this.u16(encoded.length).#push(encoded);
  }

  finish(): Uint8Array {
    return this.#copyInto(new Uint8Array(this.#length), 0);
  }

  /** The payload behind its u32 length prefix; the cap is checked before allocating. */
  finishFrame(): Uint8Array {
    if (this.#length > MAX_FRAME_PAYLOAD) {
      throw new RangeError(
        `Frame payload of ${this.#length} bytes exceeds the cap of ${MAX_FRAME_PAYLOAD} bytes`,
      );
    }
    const frame = new Uint8Array(FRAME_HEADER_LENGTH + this.#length);
    new DataView(frame.buffer).setUint32(0, this.#length);
    return this.#copyInto(frame, FRAME_HEADER_LENGTH);
  }

  /**
   * finishFrame() without the big copy: runs of small parts are joined, and every part of
   * BY_REFERENCE bytes or more (a blob) is returned as it is, to be written after the others
   * with one writev. The caller must not change those buffers until they are written.
   */
  finishFrameParts(): Uint8Array[] {
    if (this.#length > MAX_FRAME_PAYLOAD) {
      throw new RangeError(
        `Frame payload of ${this.#length} bytes exceeds the cap of ${MAX_FRAME_PAYLOAD} bytes`,
      );
    }
    const header = new Uint8Array(FRAME_HEADER_LENGTH);
    new DataView(header.buffer).setUint32(0, this.#length);
    const out: Uint8Array[] = [];
    let run: Uint8Array[] = [header];
    let runLength = header.length;
    const endRun = (): void => {
      if (runLength === 0) return;
      const joined = new Uint8Array(runLength);
      let offset = 0;
      for (const part of run) {
        joined.set(part, offset);
        offset += part.length;
      }
      out.push(joined);
      run = [];
      runLength = 0;
    };
    for (const part of this.#parts) {
      if (part.length >= BY_REFERENCE) {
        endRun();
        out.push(part);
      } else {
        run.push(part);
        runLength += part.length;
      }
    }
    endRun();
    return out;
  }

  #copyInto(out: Uint8Array, start: number): Uint8Array {
    let offset = start;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  #push(bytes: Uint8Array): this {
    this.#parts.push(bytes);
    this.#length += bytes.length;
    return this;
  }
}

class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(n: number, what: string): void {
    if (this.#bytes.length - this.#offset < n)
      throw protocolError(
        `Message ends early: ${what} needs ${n} bytes, ${this.#bytes.length - this.#offset} left`,
      );
  }

  u8(what: string): number {
    this.#need(1, what);
    return this.#view.getUint8(this.#offset++);
  }

  u16(what: string): number {
    this.#need(2, what);
    const value = this.#view.getUint16(this.#offset);
    this.#offset += 2;
    return value;
  }

  u32(what: string): number {
    this.#need(4, what);
    const value = this.#view.getUint32(this.#offset);
    this.#offset += 4;
    return value;
  }

  raw(n: number, what: string): Uint8Array {
    this.#need(n, what);
    const start = this.#offset;
    this.#offset += n;
    // Always a plain Uint8Array, never a Buffer. A small field is copied, so that it does not
    // pin the receive buffer it came from (an id kept in a set would hold a 64 KiB chunk). A
    // payload of VIEW_FROM_BYTES or more is a blob, most of its frame, which the decoder
    // already assembled into a buffer of its own or which is most of one read: a view of it
    // pins little, and saves copying every blob a second time on both ends.
    if (n >= VIEW_FROM_BYTES)
      return new Uint8Array(
        this.#bytes.buffer,
        this.#bytes.byteOffset + start,
        n,
      );
    return new Uint8Array(this.#bytes.subarray(start, start + n));
  }

  id(what: string): Uint8Array {
    return this.raw(ID_LENGTH, what);
  }

  bytes(what: string): Uint8Array {
    return this.raw(this.u32(`${what} length`), what);
  }

  string(what: string): string {
    const raw = this.raw(this.u16(`${what} length`), what);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch (error) {
      throw protocolError(`${what} is not valid UTF-8`, error);
    }
  }

  /** A count of items that take at least `minItemBytes` each, checked against what is left. */
  count(minItemBytes: number, what: string): number {
    const n = this.u32(`${what} count`);
    this.#need(n * minItemBytes, `${n} ${what}`);
    return n;
  }

  end(what: string): void {
    const left = this.#bytes.length - this.#offset;
    if (left !== 0)
      throw protocolError(`${left} unexpected bytes after ${what}`);
  }
}

function protocolError(message: string, cause?: unknown): BlindsyncError {
  return new BlindsyncError(
    "protocol",
    message,
    cause === undefined ? {} : { cause },
  );
}

function writeKind(w: Writer, kind: WireBlobKind): Writer {
  return w.u8(BLOB_KIND_CODES[kind]);
}

function readKind(r: Reader, what: string): WireBlobKind {
  const code = r.u8(what);
  const kind = BLOB_KIND_BY_CODE.get(code);
  if (kind === undefined) throw protocolError(`Unknown blob kind ${code}`);
  return kind;
}

function writeCapabilities(w: Writer, capabilities: readonly string[]): void {
  if (capabilities.length > MAX_CAPABILITIES)
    throw new RangeError(`Too many capabilities (${capabilities.length})`);
  w.u16(capabilities.length);
  for (const capability of capabilities) w.string(capability);
}

function readCapabilities(r: Reader): string[] {
  const n = r.u16("capability count");
  if (n > MAX_CAPABILITIES) throw protocolError(`Too many capabilities (${n})`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.string("capability"));
  return out;
}

function writeIds(w: Writer, ids: readonly Uint8Array[]): void {
  w.u32(ids.length);
  for (const id of ids) w.id(id);
}

function readIds(r: Reader): Uint8Array[] {
  const n = r.count(ID_LENGTH, "ids");
  const ids: Uint8Array[] = [];
  for (let i = 0; i < n; i++) ids.push(r.id("id"));
  return ids;
}

function writeSlot(w: Writer, slot: WireKeySlot): void {
  w.string(slot.name).bytes(slot.bytes);
}

function readSlot(r: Reader): WireKeySlot {
  const name = r.string("key slot name");
  return { name, bytes: r.bytes("key slot") };
}

/** Encodes any message into a frame payload (not yet length-prefixed). */
export function encodeMessage(message: Message): Uint8Array {
  return writeMessage(message).finish();
}

/**
 * Encodes a message straight into a whole frame (length prefix included) with one copy of
 * the data: blob batches are megabytes, and copying them twice showed up in profiles.
 */
export function encodeMessageFrame(message: Message): Uint8Array {
  return writeMessage(message).finishFrame();
}

/**
 * The same bytes as encodeMessageFrame(), as a list of buffers whose large parts are the
 * message's own blob buffers (no copy): for a put of 4 MiB that is 4 MiB less to copy.
 */
export function encodeMessageFrameParts(message: Message): Uint8Array[] {
  return writeMessage(message).finishFrameParts();
}

function writeMessage(message: Message): Writer {
  const w = new Writer().u8(TYPE[message.type]);
  switch (message.type) {
    case "hello":
      w.raw(HELLO_MAGIC).u16(message.version);
      writeCapabilities(w, message.capabilities);
      w.string(message.path).u8(message.mode === "create" ? 1 : 0);
      return w;
    case "server-hello":
      w.u16(message.version);
      writeCapabilities(w, message.capabilities);
      w.u8(message.appendOnly ? 1 : 0);
      return w;
    default:
      break;
  }
  w.u32(message.requestId);
  switch (message.type) {
    case "read-config":
    case "list-key-slots":
    case "goodbye":
    case "ok":
    case "list-end":
      break;
    case "missing":
    case "delete":
    case "ids":
      writeIds(w, message.ids);
      break;
    case "get":
      w.id(message.id);
      break;
    case "list":
      w.u8(message.kind === undefined ? 0 : BLOB_KIND_CODES[message.kind]);
      break;
    case "create":
      w.bytes(message.config);
      writeSlot(w, message.slot);
      break;
    case "add-key-slot":
      writeSlot(w, message.slot);
      break;
    case "remove-key-slot":
      w.string(message.name);
      break;
    case "put":
      w.u32(message.blobs.length);
      for (const blob of message.blobs)
        writeKind(w.id(blob.id), blob.kind).bytes(blob.bytes);
      break;
    case "bytes":
      w.bytes(message.bytes);
      break;
    case "control":
      w.string(message.op).bytes(message.args);
      break;
    case "key-slots":
      w.u32(message.slots.length);
      for (const slot of message.slots) writeSlot(w, slot);
      break;
    case "list-items":
      w.u32(message.items.length);
      for (const item of message.items)
        writeKind(w.id(item.id), item.kind).u32(item.length);
      break;
    case "error":
      w.string(message.kind).string(message.message);
      if (message.hint === undefined) w.u8(0);
      else w.u8(1).string(message.hint);
      break;
  }
  return w;
}

/** What a server may receive: the client hello first, then requests. */
export function decodeClientMessage(
  payload: Uint8Array,
): ClientHello | Request {
  const message = decodeMessage(payload);
  if (message.type === "hello" || isRequest(message)) return message;
  throw protocolError(`A client sent a "${message.type}" message`);
}

/** What a client may receive: the server hello first, then responses. */
export function decodeServerMessage(
  payload: Uint8Array,
): ServerHello | Response {
  const message = decodeMessage(payload);
  if (message.type === "server-hello" || isResponse(message)) return message;
  throw protocolError(`A server sent a "${message.type}" message`);
}

export function isRequest(message: Message): message is Request {
  const code = TYPE[message.type];
  return code >= 0x10 && code < 0x80;
}

export function isResponse(message: Message): message is Response {
  return TYPE[message.type] >= 0x80;
}

/** Decodes a frame payload. Throws BlindsyncError('protocol') for anything malformed. */
export function decodeMessage(payload: Uint8Array): Message {
  const r = new Reader(payload);
  const code = r.u8("message type");
  let message: Message;
  switch (code) {
    case TYPE.hello: {
      const magic = r.raw(HELLO_MAGIC.length, "hello magic");
      if (!magic.every((byte, i) => byte === HELLO_MAGIC[i]))
        throw protocolError("The hello does not start with BLNDSYNC");
      const version = r.u16("version");
      const capabilities = readCapabilities(r);
      const path = r.string("repository path");
      const modeCode = r.u8("mode");
      if (modeCode > 1) throw protocolError(`Unknown open mode ${modeCode}`);
      message = {
        type: "hello",
        version,
        capabilities,
        path,
        mode: modeCode === 1 ? "create" : "open",
      };
      break;
    }
    case TYPE["server-hello"]: {
      const version = r.u16("version");
      const capabilities = readCapabilities(r);
      message = {
        type: "server-hello",
        version,
        capabilities,
        appendOnly: readFlag(r, "append-only flag"),
      };
      break;
    }
    default:
      message = decodeNumbered(code, r);
  }
  r.end(message.type);
  return message;
}

function readFlag(r: Reader, what: string): boolean {
  const flag = r.u8(what);
  if (flag > 1) throw protocolError(`Invalid ${what} ${flag}`);
  return flag === 1;
}

function decodeNumbered(code: number, r: Reader): Request | Response {
  const requestId = r.u32("request id");
  switch (code) {
    case TYPE["read-config"]:
      return { type: "read-config", requestId };
    case TYPE["list-key-slots"]:
      return { type: "list-key-slots", requestId };
    case TYPE.goodbye:
      return { type: "goodbye", requestId };
    case TYPE.ok:
      return { type: "ok", requestId };
    case TYPE["list-end"]:
      return { type: "list-end", requestId };
    case TYPE.missing:
      return { type: "missing", requestId, ids: readIds(r) };
    case TYPE.delete:
      return { type: "delete", requestId, ids: readIds(r) };
    case TYPE.ids:
      return { type: "ids", requestId, ids: readIds(r) };
    case TYPE.get:
      return { type: "get", requestId, id: r.id("blob id") };
    case TYPE.list: {
      const kindCode = r.u8("blob kind");
      if (kindCode === 0) return { type: "list", requestId, kind: undefined };
      const kind = BLOB_KIND_BY_CODE.get(kindCode);
      if (kind === undefined)
        throw protocolError(`Unknown blob kind ${kindCode}`);
      return { type: "list", requestId, kind };
    }
    case TYPE.create: {
      const config = r.bytes("config");
      return { type: "create", requestId, config, slot: readSlot(r) };
    }
    case TYPE["add-key-slot"]:
      return { type: "add-key-slot", requestId, slot: readSlot(r) };
    case TYPE["remove-key-slot"]:
      return {
        type: "remove-key-slot",
        requestId,
        name: r.string("key slot name"),
      };
    case TYPE.put: {
      // id + kind + length: the least one blob can take.
      const n = r.count(ID_LENGTH + 1 + 4, "blobs");
      const blobs: WireBlob[] = [];
      for (let i = 0; i < n; i++) {
        const id = r.id("blob id");
        const kind = readKind(r, "blob kind");
        blobs.push({ id, kind, bytes: r.bytes("blob") });
      }
      return { type: "put", requestId, blobs };
    }
    case TYPE.bytes:
      return { type: "bytes", requestId, bytes: r.bytes("bytes") };
    case TYPE.control: {
      const opText = r.string("control op");
      const op = CONTROL_OPS.find((known) => known === opText);
      if (op === undefined)
        throw protocolError(`Unknown control op "${opText}"`);
      return { type: "control", requestId, op, args: r.bytes("control args") };
    }
    case TYPE["key-slots"]: {
      const n = r.count(2 + 4, "key slots");
      const slots: WireKeySlot[] = [];
      for (let i = 0; i < n; i++) slots.push(readSlot(r));
      return { type: "key-slots", requestId, slots };
    }
    case TYPE["list-items"]: {
      const n = r.count(ID_LENGTH + 1 + 4, "list items");
      const items: WireBlobInfo[] = [];
      for (let i = 0; i < n; i++) {
        const id = r.id("blob id");
        const kind = readKind(r, "blob kind");
        items.push({ id, kind, length: r.u32("blob length") });
      }
      return { type: "list-items", requestId, items };
    }
    case TYPE.error: {
      const kindText = r.string("error kind");
      const kind = ERROR_KINDS.find((k) => k === kindText);
      if (kind === undefined)
        throw protocolError(`Unknown error kind "${kindText}"`);
      const message = r.string("error message");
      const hint = readFlag(r, "hint flag") ? r.string("hint") : undefined;
      return { type: "error", requestId, kind, message, hint };
    }
    default:
      throw protocolError(
        `Unknown message type 0x${code.toString(16).padStart(2, "0")}`,
      );
  }
}
