import { createHash, createHmac, type Hash } from "node:crypto";

const idLength = 32; // full HMAC-SHA256 output; blob ids are never truncated

/** HMAC-SHA256(key, data): the keyed id of a blob, so the server cannot confirm a guessed plaintext. */
export function keyedId(key: Uint8Array, data: Uint8Array): Uint8Array {
  const mac = createHmac("sha256", key).update(data).digest();
  return new Uint8Array(mac.buffer, mac.byteOffset, idLength);
}

export function sha256(data: Uint8Array): Uint8Array {
  const digest = createHash("sha256").update(data).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/** Incremental SHA-256, for hashing a whole file while it streams through the chunker. */
export interface Sha256Hasher {
  update(data: Uint8Array): Sha256Hasher;
  /** The digest; the hasher cannot be used afterwards. */
  digest(): Uint8Array;
}

export function createSha256(): Sha256Hasher {
  const hash: Hash = createHash("sha256");
  const hasher: Sha256Hasher = {
    update(data) {
      hash.update(data);
      return hasher;
    },
    digest() {
      const digest = hash.digest();
      return new Uint8Array(
        digest.buffer,
        digest.byteOffset,
        digest.byteLength,
      );
    },
  };
  return hasher;
}
