/**
 * The messages of the blindsync wire protocol and their binary encoding (docs/protocol.md is the
 * byte-by-byte reference). Pure: no I/O, no knowledge of stores beyond the shapes they exchange.
 *
 * Every decoder is strict: an unknown type, a short or overlong payload, a bad enum value or
 * invalid UTF-8 throws BlindsyncError('protocol'), so nothing a peer sends is half-understood.
 *
 * Length: over 400 lines with one job, because every message's encoder sits beside its decoder
 * so that the two cannot drift apart; the field codec they share is in codec.ts.
 */

import type { ErrorKind } from "../errors.js";
import { ID_LENGTH, Reader, Writer, protocolError } from "./codec.js";

/**
 * 2 since the lock and generation calls became typed messages (they were JSON "control" calls
 * in version 1): a peer of the other version is refused at the hello, naming both versions.
 */
export const PROTOCOL_VERSION = 2;

/** Opens the client hello so a server can tell a blindsync client from anything else. */
export const HELLO_MAGIC = new Uint8Array([
  0x42, 0x4c, 0x4e, 0x44, 0x53, 0x59, 0x4e, 0x43,
]); // "BLNDSYNC"

export { ID_LENGTH };

/**
 * Listed in a hello when that machine's CPU has AES instructions. Informational: a client that
 * sees it in both hellos asks ssh for AES-GCM on its next connection (store/remote/ssh-ciphers.ts).
 */
export const CAPABILITY_CPU_AES = "cpu-aes";

/**
 * Listed in a server's hello when it understands "put-buffered" and "flush" (durability at sync
 * points). A client sends those two only to a server that listed it; to any other it sends
 * plain puts, each durable when answered, and treats a sync point as already reached. An old
 * client never sends them, so its puts stay durable one by one. No version bump: both sides
 * keep speaking version 2 to each other.
 */
export const CAPABILITY_SYNC_POINTS = "sync-points";

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

/** Someone holding a lock, as a refusal reports it: never the lock's id. */
export interface WireLockHolder {
  readonly exclusive: boolean;
  readonly owner: string;
  /** Milliseconds since the epoch, by the server's clock. */
  readonly expiresAt: number;
}

export interface WireLockRequest {
  readonly exclusive: boolean;
  readonly owner: string;
  readonly leaseMs: number;
}

export type WireLockAttempt =
  | {
      readonly acquired: true;
      readonly id: string;
      readonly leaseMs: number;
    }
  | {
      readonly acquired: false;
      readonly holders: readonly WireLockHolder[];
      readonly more: number;
    };

export interface WireLocksRemoved {
  readonly removed: number;
  readonly live: readonly WireLockHolder[];
  readonly more: number;
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
  /** As "put", but durable only at the next "flush" or durable write (CAPABILITY_SYNC_POINTS). */
  | { readonly type: "put-buffered"; readonly blobs: readonly WireBlob[] }
  /** A sync point: answered "ok" once every buffered put before it is durable. */
  | { readonly type: "flush" }
  | { readonly type: "delete"; readonly ids: readonly Uint8Array[] }
  | { readonly type: "compact" }
  | { readonly type: "generation" }
  | { readonly type: "bump-generation" }
  | { readonly type: "acquire-lock"; readonly request: WireLockRequest }
  | {
      readonly type: "refresh-lock";
      readonly id: string;
      readonly leaseMs: number;
    }
  | { readonly type: "release-lock"; readonly id: string }
  | { readonly type: "remove-locks"; readonly all: boolean }
  | { readonly type: "goodbye" };

export type Request = RequestBody & { readonly requestId: number };

export type ResponseBody =
  | { readonly type: "ok" }
  | { readonly type: "bytes"; readonly bytes: Uint8Array }
  | { readonly type: "key-slots"; readonly slots: readonly WireKeySlot[] }
  | { readonly type: "ids"; readonly ids: readonly Uint8Array[] }
  | { readonly type: "list-items"; readonly items: readonly WireBlobInfo[] }
  | { readonly type: "list-end" }
  | { readonly type: "number"; readonly value: number }
  | { readonly type: "lock-attempt"; readonly attempt: WireLockAttempt }
  | { readonly type: "locks-removed"; readonly result: WireLocksRemoved }
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
  compact: 0x1a,
  generation: 0x1b,
  "bump-generation": 0x1c,
  "acquire-lock": 0x1d,
  "refresh-lock": 0x1e,
  goodbye: 0x1f,
  "release-lock": 0x20,
  "remove-locks": 0x21,
  "put-buffered": 0x22,
  flush: 0x23,
  ok: 0x80,
  bytes: 0x81,
  "key-slots": 0x82,
  ids: 0x83,
  "list-items": 0x84,
  "list-end": 0x85,
  number: 0x86,
  "lock-attempt": 0x87,
  "locks-removed": 0x88,
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

const MAX_CAPABILITIES = 64;

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

function writeHolders(w: Writer, holders: readonly WireLockHolder[]): void {
  w.u32(holders.length);
  for (const holder of holders)
    w.flag(holder.exclusive).string(holder.owner).u53(holder.expiresAt);
}

function readHolders(r: Reader): WireLockHolder[] {
  // flag + string length + expiry: the least one holder can take.
  const n = r.count(1 + 2 + 8, "lock holders");
  const holders: WireLockHolder[] = [];
  for (let i = 0; i < n; i++) {
    const exclusive = r.flag("exclusive flag");
    const owner = r.string("lock owner");
    holders.push({ exclusive, owner, expiresAt: r.u53("lock expiry") });
  }
  return holders;
}

function writeLockAttempt(w: Writer, attempt: WireLockAttempt): void {
  w.flag(attempt.acquired);
  if (attempt.acquired) w.string(attempt.id).u53(attempt.leaseMs);
  else {
    writeHolders(w, attempt.holders);
    w.u53(attempt.more);
  }
}

function readLockAttempt(r: Reader): WireLockAttempt {
  if (r.flag("acquired flag")) {
    const id = r.string("lock id");
    return { acquired: true, id, leaseMs: r.u53("granted lease") };
  }
  const holders = readHolders(r);
  return { acquired: false, holders, more: r.u53("more holders") };
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
    case "compact":
    case "generation":
    case "bump-generation":
    case "goodbye":
    case "flush":
    case "ok":
    case "list-end":
      break;
    case "acquire-lock":
      w.flag(message.request.exclusive)
        .string(message.request.owner)
        .u53(message.request.leaseMs);
      break;
    case "refresh-lock":
      w.string(message.id).u53(message.leaseMs);
      break;
    case "release-lock":
      w.string(message.id);
      break;
    case "remove-locks":
      w.flag(message.all);
      break;
    case "number":
      w.u53(message.value);
      break;
    case "lock-attempt":
      writeLockAttempt(w, message.attempt);
      break;
    case "locks-removed":
      w.u53(message.result.removed);
      writeHolders(w, message.result.live);
      w.u53(message.result.more);
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
    case "put-buffered":
      w.u32(message.blobs.length);
      for (const blob of message.blobs)
        writeKind(w.id(blob.id), blob.kind).bytes(blob.bytes);
      break;
    case "bytes":
      w.bytes(message.bytes);
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
        appendOnly: r.flag("append-only flag"),
      };
      break;
    }
    default:
      message = decodeNumbered(code, r);
  }
  r.end(message.type);
  return message;
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
    case TYPE.flush:
      return { type: "flush", requestId };
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
    case TYPE.put:
    case TYPE["put-buffered"]: {
      // id + kind + length: the least one blob can take.
      const n = r.count(ID_LENGTH + 1 + 4, "blobs");
      const blobs: WireBlob[] = [];
      for (let i = 0; i < n; i++) {
        const id = r.id("blob id");
        const kind = readKind(r, "blob kind");
        blobs.push({ id, kind, bytes: r.bytes("blob") });
      }
      const type = code === TYPE.put ? "put" : "put-buffered";
      return { type, requestId, blobs };
    }
    case TYPE.bytes:
      return { type: "bytes", requestId, bytes: r.bytes("bytes") };
    case TYPE.compact:
      return { type: "compact", requestId };
    case TYPE.generation:
      return { type: "generation", requestId };
    case TYPE["bump-generation"]:
      return { type: "bump-generation", requestId };
    case TYPE["acquire-lock"]: {
      const exclusive = r.flag("exclusive flag");
      const owner = r.string("lock owner");
      const leaseMs = r.u53("lease");
      return {
        type: "acquire-lock",
        requestId,
        request: { exclusive, owner, leaseMs },
      };
    }
    case TYPE["refresh-lock"]: {
      const id = r.string("lock id");
      return { type: "refresh-lock", requestId, id, leaseMs: r.u53("lease") };
    }
    case TYPE["release-lock"]:
      return { type: "release-lock", requestId, id: r.string("lock id") };
    case TYPE["remove-locks"]:
      return { type: "remove-locks", requestId, all: r.flag("all flag") };
    case TYPE.number:
      return { type: "number", requestId, value: r.u53("number") };
    case TYPE["lock-attempt"]:
      return { type: "lock-attempt", requestId, attempt: readLockAttempt(r) };
    case TYPE["locks-removed"]: {
      const removed = r.u53("removed count");
      const live = readHolders(r);
      return {
        type: "locks-removed",
        requestId,
        result: { removed, live, more: r.u53("more holders") },
      };
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
      const hint = r.flag("hint flag") ? r.string("hint") : undefined;
      return { type: "error", requestId, kind, message, hint };
    }
    default:
      throw protocolError(
        `Unknown message type 0x${code.toString(16).padStart(2, "0")}`,
      );
  }
}
