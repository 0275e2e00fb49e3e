/**
 * The blindsync wire protocol: length-prefixed frames and the binary messages inside them,
 * shared by the remote store client and `blindsync serve`. Pure wire format: imports only node
 * built-ins and the shared leaves (src/errors.ts, src/util/), never a layer above it.
 * docs/protocol.md describes every byte.
 */

export {
  FRAME_HEADER_LENGTH,
  FrameDecoder,
  MAX_FRAME_PAYLOAD,
  encodeFrame,
} from "./frame.js";
export {
  CAPABILITY_CPU_AES,
  CAPABILITY_SYNC_POINTS,
  ERROR_KINDS,
  HELLO_MAGIC,
  ID_LENGTH,
  PROTOCOL_VERSION,
  decodeClientMessage,
  decodeMessage,
  decodeServerMessage,
  encodeMessage,
  encodeMessageFrame,
  encodeMessageFrameParts,
  isRequest,
  isResponse,
} from "./messages.js";
export type {
  ClientHello,
  Message,
  OpenMode,
  Request,
  RequestBody,
  Response,
  ResponseBody,
  ServerHello,
  WireBlob,
  WireBlobInfo,
  WireBlobKind,
  WireKeySlot,
  WireLockAttempt,
  WireLockHolder,
  WireLockRequest,
  WireLocksRemoved,
} from "./messages.js";
