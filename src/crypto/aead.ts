import { createCipheriv, createDecipheriv } from "node:crypto";
import { BlindsyncError } from "../errors.js";
import { uninitializedBytes } from "../util/bytes.js";

export const aeadKeyLength = 32; // AES-256
export const aeadNonceLength = 12; // the GCM nonce size that needs no GHASH derivation
export const aeadTagLength = 16; // full tag: truncated GCM tags weaken forgery bounds

function checkKeyAndNonce(key: Uint8Array, nonce: Uint8Array): void {
  if (key.byteLength !== aeadKeyLength)
    throw new RangeError(`AES-256-GCM key must be ${aeadKeyLength} bytes`);
  if (nonce.byteLength !== aeadNonceLength)
    throw new RangeError(`AES-256-GCM nonce must be ${aeadNonceLength} bytes`);
}

const noPrefix = new Uint8Array(0);

/**
 * AES-256-GCM encryption; returns prefix || ciphertext || 16-byte tag, in one buffer of its
 * own (the prefix saves a caller that frames the output one more copy of it). A plaintext given
 * in parts is encrypted as their concatenation, which the caller then need not make. The caller owns
 * nonce uniqueness: a repeated (key, nonce) pair leaks the XOR of plaintexts and the
 * authentication key.
 */
export function aeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array | readonly Uint8Array[],
  aad: Uint8Array,
  prefix: Uint8Array = noPrefix,
): Uint8Array {
  checkKeyAndNonce(key, nonce);
  const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const cipher = createCipheriv("aes-256-gcm", key, nonce, {
    authTagLength: aeadTagLength,
  });
  cipher.setAAD(aad);
  const sealed = uninitializedBytes(prefix.byteLength + length + aeadTagLength);
  sealed.set(prefix, 0);
  // GCM is a stream mode: each update() gives back as many bytes as it was given.
  let at = prefix.byteLength;
  for (const part of parts) {
    const body = cipher.update(part);
    sealed.set(body, at);
    at += body.byteLength;
  }
  const tail = cipher.final();
  sealed.set(tail, at);
  sealed.set(cipher.getAuthTag(), at + tail.byteLength);
  return sealed;
}

/**
 * Inverse of aeadSeal. Any failure (input shorter than a tag, wrong key, nonce, AAD or a
 * modified byte) is a BlindsyncError of kind "integrity"; no plaintext is released then.
 */
export function aeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  checkKeyAndNonce(key, nonce);
  if (sealed.byteLength < aeadTagLength)
    throw new BlindsyncError(
      "integrity",
      `Ciphertext of ${sealed.byteLength} bytes is shorter than its ${aeadTagLength}-byte tag`,
    );
  const bodyLength = sealed.byteLength - aeadTagLength;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce, {
      authTagLength: aeadTagLength,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(bodyLength));
    const body = decipher.update(sealed.subarray(0, bodyLength));
    // final() throws on a bad tag; until then no plaintext leaves this function.
    const tail = decipher.final();
    // GCM is a stream mode: final() adds no bytes, and update()'s own buffer is the answer
    // (a copy of every opened blob cost a zero-filled allocation and a pass over its bytes).
    if (
      tail.byteLength === 0 &&
      body.byteOffset === 0 &&
      body.byteLength === body.buffer.byteLength
    )
      return new Uint8Array(body.buffer, 0, body.byteLength);
    const plaintext = new Uint8Array(bodyLength);
    plaintext.set(body, 0);
    plaintext.set(tail, body.byteLength);
    return plaintext;
  } catch (error) {
    throw new BlindsyncError("integrity", "Ciphertext failed authentication", {
      cause: error,
    });
  }
}
