/**
 * The encrypted blob format: every data, tree and snapshot blob is stored as
 *
 *   header (40) = "BSBL" | version u8 = 1 | kind u8 (1 data, 2 tree, 3 snapshot)
 *                 | algorithm u8 = 1 | reserved u8 = 0 | session id (24) | counter u64 BE
 *   AES-256-GCM(key = sessionKey(encKey, session id), nonce = 0^4 | counter,
 *               aad = header | repository id (32) | blob id (32),
 *               compression u8 (0 raw, 1 zstd) | payload length u32 BE | payload
 *               | zero bytes up to padmeLength(5 + payload length)) | tag (16)
 *
 * Binding the header, repository and blob id into the AAD catches a server that swaps, moves,
 * relabels or transplants blobs; padding after compression hides exact chunk sizes.
 *
 * Length: over 400 lines with one job, the blob format: sealing and opening share the header,
 * padding and compression rules, and keeping them in one file keeps the two sides in step.
 */
import { Compressor, Decompressor } from "zstd-napi";
import zstd from "zstd-napi/binding.js";
import {
  aeadOpen,
  aeadSeal,
  aeadTagLength,
  keyedId,
  padmeLength,
  sessionNonce,
  type SealingSession,
} from "../crypto/index.js";
import { BlindsyncError } from "../errors.js";
import type { BlobId, BlobKind } from "../store/index.js";
import { bytesEqual, isZeroFilled, toHex } from "../util/bytes.js";
import { openingKey } from "./opening-keys.js";

export const blobHeaderLength = 40;
const magic = Uint8Array.from([0x42, 0x53, 0x42, 0x4c]); // "BSBL"
const formatVersion = 1;
const algorithmAesGcmZstdPadme = 1;
const sessionIdOffset = 8;
const counterOffset = 32;
const idLength = 32;
const innerHeaderLength = 5; // compression u8 | payload length u32
const compressionRaw = 0;
const compressionZstd = 1;

/**
 * How a sealed blob's plaintext is compressed before padding and encryption. Every blob records
 * raw or zstd in its inner header and every reader accepts both, so the mode is the writer's
 * choice per run and never part of the repository's format.
 *
 * - "auto": zstd level 3 (fast on text; higher levels cost more than the bytes they save),
 *   skipping chunks whose samples do not compress. The default, as restic's.
 * - "max": zstd level 11, what restic's max is (klauspost/compress's SpeedBestCompression,
 *   which its README puts at about zstd level 11). Levels 19 and 22 save little more than
 *   11 for many times its time and far more memory per thread (the measurements are in
 *   docs/performance.md, "Numbers that used to live in code comments").
 * - "off": nothing is compressed, not data, trees nor snapshots. Compressing before encrypting
 *   makes the stored size depend on how much of a blob repeats itself, so an attacker who can
 *   put chosen bytes beside a secret (a file in a synced folder, a name in a shared
 *   directory) and watch stored sizes can test guesses of the secret (CRIME, BREACH). Trees
 *   hold file names, which blindsync promises to hide, so they are not compressed either
 *   (restic's off still compresses trees).
 */
export type CompressionMode = "auto" | "off" | "max";

export const compressionModes: readonly CompressionMode[] = [
  "auto",
  "off",
  "max",
];

const zstdLevels: Readonly<Record<CompressionMode, number | undefined>> = {
  auto: 3,
  max: 11,
  off: undefined,
};
/** Samples are always tried at auto's level: cheap, and a good enough test for max too. */
const sampleLevel = 3;
// Compressed output must save at least 3 % to be kept: smaller gains are not worth the
// decompression on every read.
const minCompressionRatio = 0.97;
const zstdFrameMagic = 0xfd2fb528; // little-endian; skippable frames use other values

/** Default cap on an opened plaintext: the largest chunk the chunker can produce. */
export const defaultMaxPlaintext = 64 * 1024 * 1024;

const kindCodes: Readonly<Record<BlobKind, number>> = {
  data: 1,
  tree: 2,
  snapshot: 3,
};

export interface BlobKeys {
  readonly encKey: Uint8Array;
  readonly idKey: Uint8Array;
}

export interface SealBlobOptions {
  readonly keys: BlobKeys;
  readonly repositoryId: Uint8Array;
  readonly session: SealingSession;
  readonly kind: BlobKind;
  /** blobIdOf(keys.idKey, plaintext); a wrong id yields a blob that never opens. */
  readonly id: BlobId;
  readonly plaintext: Uint8Array;
  readonly compression: CompressionMode;
}

export interface OpenBlobOptions {
  readonly keys: BlobKeys;
  readonly repositoryId: Uint8Array;
  readonly id: BlobId;
  readonly expectedKind: BlobKind;
  /** Stored bytes as the (untrusted) store returned them. */
  readonly bytes: Uint8Array;
  /** Largest plaintext accepted; defaults to defaultMaxPlaintext. */
  readonly maxPlaintext?: number;
  /**
   * Recompute the keyed id of the plaintext and compare (default true). The AEAD already binds
   * the id (it is in the associated data), so only a key holder could make a blob that fails
   * this; a caller that verifies the content another way (restore checks every file's SHA-256)
   * may skip the second pass over the bytes.
   */
  readonly checkId?: boolean;
}

/** The keyed id of a plaintext: HMAC-SHA256(idKey, plaintext). */
export function blobIdOf(idKey: Uint8Array, plaintext: Uint8Array): BlobId {
  return keyedId(idKey, plaintext);
}

/** Stored size of a blob whose (possibly compressed) payload has `payloadLength` bytes. */
export function sealedBlobLength(payloadLength: number): number {
  return (
    blobHeaderLength +
    padmeLength(innerHeaderLength + payloadLength) +
    aeadTagLength
  );
}

// Compression contexts per thread and level, reused: creating one costs more than compressing
// a small tree blob. A context is made only for a level this thread uses.
const compressors = new Map<number, Compressor>();
let decompressor: Decompressor | undefined;

function compressorAt(level: number): Compressor {
  let compressor = compressors.get(level);
  if (compressor === undefined) {
    compressor = new Compressor();
    compressor.setParameters({ compressionLevel: level });
    compressors.set(level, compressor);
  }
  return compressor;
}

/**
 * Below this size a plaintext is compressed whole; above it, three samples decide first
 * whether it is worth trying (see looksIncompressible).
 */
const sampleFrom = 128 * 1024;
const sampleLength = 16 * 1024;

/**
 * True when three 16 KiB samples (start, middle, end) each compress by less than 3 %: random,
 * encrypted or already-compressed data, where compressing the whole chunk spends CPU
 * (docs/performance.md has how much) to throw the result away. One sample that
 * compresses is enough to try the whole chunk, so mixed content is still compressed.
 */
function looksIncompressible(plaintext: Uint8Array): boolean {
  const sampler = compressorAt(sampleLevel);
  const middle = Math.floor((plaintext.length - sampleLength) / 2);
  for (const start of [0, middle, plaintext.length - sampleLength]) {
    const sample = plaintext.subarray(start, start + sampleLength);
    if (sampler.compress(sample).length <= sampleLength * minCompressionRatio)
      return false;
  }
  return true;
}

function compressPayload(
  plaintext: Uint8Array,
  mode: CompressionMode,
): Uint8Array | undefined {
  const level = zstdLevels[mode];
  if (level === undefined || plaintext.byteLength === 0) return undefined;
  if (plaintext.length >= sampleFrom && looksIncompressible(plaintext))
    return undefined;
  const compressed = compressorAt(level).compress(plaintext);
  return compressed.length <= plaintext.length * minCompressionRatio
    ? compressed
    : undefined;
}

/** Zeros enough for Padmé's padding of an 8 MiB blob (at most 2^18 bytes); never written. */
const sharedZeros = new Uint8Array(256 * 1024);

function zeroPadding(length: number): Uint8Array {
  return length <= sharedZeros.length
    ? sharedZeros.subarray(0, length)
    : new Uint8Array(length);
}

function checkLength(name: string, bytes: Uint8Array, length: number): void {
  if (bytes.byteLength !== length)
    throw new RangeError(
      `${name} must be ${length} bytes, got ${bytes.byteLength}`,
    );
}

function encodeHeader(
  kind: BlobKind,
  sessionId: Uint8Array,
  counter: bigint,
): Uint8Array {
  const header = new Uint8Array(blobHeaderLength);
  const view = new DataView(header.buffer);
  header.set(magic, 0);
  header[4] = formatVersion;
  header[5] = kindCodes[kind];
  header[6] = algorithmAesGcmZstdPadme;
  header[7] = 0;
  header.set(sessionId, sessionIdOffset);
  view.setBigUint64(counterOffset, counter, false);
  return header;
}

function additionalData(
  header: Uint8Array,
  repositoryId: Uint8Array,
  id: BlobId,
): Uint8Array {
  const aad = new Uint8Array(blobHeaderLength + 2 * idLength);
  aad.set(header, 0);
  aad.set(repositoryId, blobHeaderLength);
  aad.set(id, blobHeaderLength + idLength);
  return aad;
}

/** Encrypts one plaintext into the stored blob format, consuming one counter of `session`. */
export function sealBlob(options: SealBlobOptions): Uint8Array {
  const { keys, repositoryId, session, kind, id, plaintext } = options;
  checkLength("Repository id", repositoryId, idLength);
  checkLength("Blob id", id, idLength);
  if (plaintext.byteLength > 0xffffffff)
    throw new RangeError("Blob plaintext must be smaller than 4 GiB");
  // Checked at run time too: a mistyped mode would otherwise store everything raw unnoticed.
  if (!compressionModes.includes(options.compression))
    throw new RangeError(`Unknown compression mode "${options.compression}"`);

  const compressed = compressPayload(plaintext, options.compression);
  const payload = compressed ?? plaintext;
  const innerLength = padmeLength(innerHeaderLength + payload.byteLength);
  const innerHeader = new Uint8Array(innerHeaderLength);
  innerHeader[0] = compressed === undefined ? compressionRaw : compressionZstd;
  new DataView(innerHeader.buffer).setUint32(1, payload.byteLength, false);
  // Encrypted in three parts, header, payload and padding: no joined copy of a chunk's bytes
  // (a sealing worker made three buffers of each chunk's size, two of them garbage at once).
  const inner = [
    innerHeader,
    payload,
    zeroPadding(innerLength - innerHeaderLength - payload.byteLength),
  ];

  const counter = session.nextCounter();
  const header = encodeHeader(kind, session.sessionId, counter);
  const aad = additionalData(header, repositoryId, id);
  // header || ciphertext || tag, written into one buffer by aeadSeal.
  return aeadSeal(
    session.keyFor(keys.encKey),
    sessionNonce(counter),
    inner,
    aad,
    header,
  );
}

/**
 * A blob that does not authenticate under this repository's keys as the kind it was asked
 * for: garbage, another repository's blob, or one modified, moved or relabelled in the store.
 * Still an "integrity" error; the class lets a caller tell it from a blob that authenticates
 * but is malformed, which only a holder of the keys can make.
 */
export class UnauthenticatedBlobError extends BlindsyncError {
  constructor(message: string, options: { readonly cause?: unknown } = {}) {
    super("integrity", message, options);
  }
}

/**
 * Authenticates and decodes a stored blob, and checks that its plaintext has the id it was
 * asked for. Every rejection is a BlindsyncError of kind "integrity"; no unverified plaintext
 * is ever returned.
 */
export function openBlob(options: OpenBlobOptions): Uint8Array {
  const { keys, repositoryId, id, expectedKind, bytes } = options;
  const maxPlaintext = options.maxPlaintext ?? defaultMaxPlaintext;
  checkLength("Repository id", repositoryId, idLength);
  if (!Number.isSafeInteger(maxPlaintext) || maxPlaintext < 0)
    throw new RangeError(
      `maxPlaintext must be a non-negative integer, got ${maxPlaintext}`,
    );
  if (id.byteLength !== idLength)
    throw new BlindsyncError(
      "integrity",
      `Blob id "${toHex(id)}" has ${id.byteLength} bytes instead of ${idLength}`,
    );
  // Named only when a blob is refused: building the name cost a string per opened blob.
  const name = (): string => `Blob "${toHex(id.subarray(0, 4))}"`;
  const reject = (why: string, cause?: unknown): BlindsyncError =>
    new BlindsyncError(
      "integrity",
      `${name()} ${why}`,
      cause === undefined ? {} : { cause },
    );
  // Until the AEAD tag verifies, anyone who can write to the store could have made the bytes.
  // That includes an unknown format version or algorithm: a newer format would come with a
  // newer config version, which the config's HMAC protects and this client refuses first.
  const unauthenticated = (why: string, cause?: unknown): BlindsyncError =>
    new UnauthenticatedBlobError(
      `${name()} ${why}`,
      cause === undefined ? {} : { cause },
    );

  const minLength = sealedBlobLength(0);
  const maxLength = sealedBlobLength(maxPlaintext);
  if (bytes.byteLength < minLength || bytes.byteLength > maxLength)
    throw unauthenticated(
      `has ${bytes.byteLength} bytes, outside the ${minLength}–${maxLength} a blob may have`,
    );
  const header = bytes.subarray(0, blobHeaderLength);
  if (!bytesEqual(header.subarray(0, 4), magic))
    throw unauthenticated("is not a blindsync blob");
  if (header[4] !== formatVersion)
    throw unauthenticated(`has unknown format version ${header[4] ?? 0}`);
  if (header[6] !== algorithmAesGcmZstdPadme || header[7] !== 0)
    throw unauthenticated(`has unknown algorithm ${header[6] ?? 0}`);
  if (header[5] !== kindCodes[expectedKind])
    throw unauthenticated(
      `is not a ${expectedKind} blob (kind ${header[5] ?? 0})`,
    );

  const sessionId = header.subarray(sessionIdOffset, counterOffset);
  const counter = new DataView(
    header.buffer,
    header.byteOffset,
    header.byteLength,
  ).getBigUint64(counterOffset, false);
  let inner: Uint8Array;
  try {
    inner = aeadOpen(
      openingKey(keys.encKey, sessionId),
      sessionNonce(counter),
      bytes.subarray(blobHeaderLength),
      additionalData(header, repositoryId, id),
    );
  } catch (error) {
    throw unauthenticated(
      "failed authentication: wrong key, or modified, moved or relabelled in the repository",
      error,
    );
  }

  // Authenticated from here on; the checks below catch a key holder's malformed blob.
  const compression = inner[0];
  const payloadLength = new DataView(inner.buffer, inner.byteOffset).getUint32(
    1,
    false,
  );
  if (compression !== compressionRaw && compression !== compressionZstd)
    throw reject(`has unknown compression ${compression ?? 0}`);
  if (
    innerHeaderLength + payloadLength > inner.byteLength ||
    padmeLength(innerHeaderLength + payloadLength) !== inner.byteLength
  )
    throw reject(
      `declares ${payloadLength} payload bytes in a ${inner.byteLength}-byte body`,
    );
  if (!isZeroFilled(inner.subarray(innerHeaderLength + payloadLength)))
    throw reject("has non-zero padding");
  const payload = inner.subarray(
    innerHeaderLength,
    innerHeaderLength + payloadLength,
  );

  const plaintext =
    compression === compressionZstd
      ? decompressPayload(payload, maxPlaintext, reject)
      : payload;
  if (plaintext.byteLength > maxPlaintext)
    throw reject(
      `has ${plaintext.byteLength} plaintext bytes, more than ${maxPlaintext}`,
    );
  if (
    options.checkId !== false &&
    !bytesEqual(blobIdOf(keys.idKey, plaintext), id)
  )
    throw reject("does not match its id: its plaintext hashes to another id");
  return plaintext;
}

function decompressPayload(
  payload: Uint8Array,
  maxPlaintext: number,
  reject: (why: string, cause?: unknown) => BlindsyncError,
): Uint8Array {
  // Exactly one regular frame that declares its size, checked before any allocation: the
  // library would otherwise stream an unbounded output (a decompression bomb).
  let contentSize: number | null;
  try {
    if (
      payload.byteLength < 4 ||
      new DataView(payload.buffer, payload.byteOffset).getUint32(0, true) !==
        zstdFrameMagic
    )
      throw new Error("not a Zstandard frame");
    if (zstd.findFrameCompressedSize(payload) !== payload.byteLength)
      throw new Error("not exactly one Zstandard frame");
    contentSize = zstd.getFrameContentSize(payload);
  } catch (error) {
    throw reject("has a malformed compressed payload", error);
  }
  if (contentSize === null)
    throw reject("has a compressed payload that does not declare its size");
  if (contentSize > maxPlaintext)
    throw reject(
      `declares ${contentSize} plaintext bytes, more than ${maxPlaintext}`,
    );
  try {
    decompressor ??= new Decompressor();
    const plaintext = decompressor.decompress(payload);
    if (plaintext.byteLength !== contentSize)
      throw new Error(
        `decompressed to ${plaintext.byteLength} bytes, not ${contentSize}`,
      );
    return new Uint8Array(
      plaintext.buffer,
      plaintext.byteOffset,
      plaintext.byteLength,
    );
  } catch (error) {
    throw reject("has a corrupt compressed payload", error);
  }
}
