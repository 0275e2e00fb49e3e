/**
 * The whole-file checksum a tree records beside each file's chunk ids, so that a restore is
 * checked end to end. Two kinds exist:
 *
 * - `sha256`: SHA-256 of the file's plaintext. Every tree of format 1 and 2 holds this kind;
 *   backup computed it in a second pass over every byte, beside the chunk ids.
 * - `chunk-ids`: HMAC-SHA256 under the file-checksum subkey over the file's size and its
 *   ordered chunk ids (fileChecksumMessage). A chunk id is already the keyed hash of the
 *   chunk's plaintext, so once a reader has recomputed each chunk's id from the bytes it
 *   decrypted, this binds the whole file (order, count and size) at the cost of hashing
 *   32 bytes per chunk: backup no longer hashes every byte twice (docs/performance.md).
 *
 * Backups write `chunk-ids` (tree format 3); readers accept both. Since tree format 5 a
 * `chunk-ids` checksum is not stored at all but derived: it is a function of what the entry
 * holds anyway (its size and chunk ids, or its inline bytes), so a tree records only that it
 * is one (DERIVED_CHECKSUM_CODE) and the reader computes it under its repository's keys
 * (DerivedChecksum), when something asks for its digest.
 */
import { createHmac } from "node:crypto";
import type { BlobId } from "../store/index.js";
import { bytesEqual } from "../util/bytes.js";

export type FileChecksumKind = "sha256" | "chunk-ids";

export interface FileChecksum {
  readonly kind: FileChecksumKind;
  /** 32 bytes. */
  readonly digest: Uint8Array;
  /**
   * True for a checksum a format-5 tree did not store (DerivedChecksum): it matches the
   * entry's own size and content by construction, so content checked against those (each
   * chunk's id recomputed, or an inline file's bytes compared) is checked against it too.
   */
  readonly derived?: boolean;
}

export const FILE_CHECKSUM_LENGTH = 32;

/** The kind byte of tree format 3 (and of the client cache's tagged column). */
export const FILE_CHECKSUM_CODES = { sha256: 1, "chunk-ids": 2 } as const;

/**
 * Tree format 5's kind code for a `chunk-ids` checksum that is not stored: no digest follows
 * it. Never a code of the client cache's column (encodeCachedChecksum stores the digest).
 */
export const DERIVED_CHECKSUM_CODE = 3;

/** The kind a code names, or undefined for an unknown code. */
export function checksumKindOf(code: number): FileChecksumKind | undefined {
  if (code === FILE_CHECKSUM_CODES.sha256) return "sha256";
  if (code === FILE_CHECKSUM_CODES["chunk-ids"]) return "chunk-ids";
  return undefined;
}

/**
 * What the `chunk-ids` MAC covers: size u64 | chunk count u32 | the ids (32 bytes each), all
 * big-endian. The size and count make the message unambiguous and bind the recorded size too.
 */
export function fileChecksumMessage(
  size: number,
  content: readonly BlobId[],
): Buffer {
  const message = Buffer.allocUnsafe(12 + content.length * 32);
  message.writeBigUInt64BE(BigInt(size), 0);
  message.writeUInt32BE(content.length, 8);
  let offset = 12;
  for (const id of content) {
    message.set(id, offset);
    offset += 32;
  }
  return message;
}

/** The `chunk-ids` checksum of a file of `size` bytes made of `content`, under `key`. */
export function chunkIdsChecksum(
  key: Uint8Array,
  size: number,
  content: readonly BlobId[],
): FileChecksum {
  const mac = createHmac("sha256", key)
    .update(fileChecksumMessage(size, content))
    .digest();
  return { kind: "chunk-ids", digest: new Uint8Array(mac) };
}

/** What deriving a checksum takes: the repository's keyed hashes (Repository has both). */
export interface ChecksumDeriver {
  /** The id the bytes have as a data blob: an inline file's one chunk id. */
  blobId(plaintext: Uint8Array): BlobId;
  fileChecksum(size: number, content: readonly BlobId[]): FileChecksum;
}

/**
 * A `chunk-ids` checksum a format-5 tree does not store, computed from its entry's size and
 * content under the keys of the repository that loaded the tree. The digest is computed on
 * first use only: restore and check verify such a file by comparing its chunk ids (or its
 * inline bytes) directly (`derived`), so a restore of many small files never hashes an inline
 * file's bytes to make a checksum that could only match (docs/design.md, "Tree format 5").
 */
export class DerivedChecksum implements FileChecksum {
  readonly kind = "chunk-ids";
  readonly derived = true;
  readonly #deriver: ChecksumDeriver;
  readonly #size: number;
  /** The file's chunk ids, or an inline file's bytes (whose one id is computed with the rest). */
  readonly #content: readonly BlobId[] | Uint8Array;
  #digest: Uint8Array | undefined;

  constructor(
    deriver: ChecksumDeriver,
    size: number,
    content: readonly BlobId[] | Uint8Array,
  ) {
    this.#deriver = deriver;
    this.#size = size;
    this.#content = content;
  }

  get digest(): Uint8Array {
    if (this.#digest === undefined) {
      const content = this.#content;
      const ids =
        content instanceof Uint8Array
          ? [this.#deriver.blobId(content)]
          : content;
      this.#digest = this.#deriver.fileChecksum(this.#size, ids).digest;
    }
    return this.#digest;
  }
}

/** The same checksum as a plain record: the digest computed now, nothing else kept alive. */
export function settledChecksum(checksum: FileChecksum): FileChecksum {
  return checksum.derived === true
    ? { kind: checksum.kind, digest: checksum.digest }
    : checksum;
}

export function sameChecksum(a: FileChecksum, b: FileChecksum): boolean {
  return a.kind === b.kind && bytesEqual(a.digest, b.digest);
}

/**
 * The client cache's checksum column: 32 bytes are a SHA-256 (every row written before the
 * `chunk-ids` kind existed), anything else is a kind code followed by the digest. Old caches
 * therefore need no migration.
 */
export function encodeCachedChecksum(checksum: FileChecksum): Uint8Array {
  if (checksum.kind === "sha256") return checksum.digest;
  const bytes = new Uint8Array(1 + FILE_CHECKSUM_LENGTH);
  bytes[0] = FILE_CHECKSUM_CODES[checksum.kind];
  bytes.set(checksum.digest, 1);
  return bytes;
}

/** See encodeCachedChecksum; undefined for a column it cannot have written. */
export function decodeCachedChecksum(
  bytes: Uint8Array,
): FileChecksum | undefined {
  if (bytes.length === FILE_CHECKSUM_LENGTH)
    return { kind: "sha256", digest: bytes };
  if (bytes.length !== 1 + FILE_CHECKSUM_LENGTH) return undefined;
  const kind = checksumKindOf(bytes[0] ?? 0);
  return kind === undefined || kind === "sha256"
    ? undefined
    : { kind, digest: bytes.subarray(1) };
}
