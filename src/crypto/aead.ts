import { createCipheriv, createDecipheriv } from "node:crypto";
import { BlindsyncError } from "../errors.js";

export const aeadKeyLength = 32; // AES-256
export const aeadNonceLength = 12; // the GCM nonce size that needs no GHASH derivation
export const aeadTagLength = 16; // full tag: truncated GCM tags weaken forgery bounds

function checkKeyAndNonce(key: Uint8Array, nonce: Uint8Array): void {
  if (key.byteLength !== aeadKeyLength)
    throw new RangeError(`AES-256-GCM key must be ${aeadKeyLength} bytes`);
  if (nonce.byteLength !== aeadNonceLength)
    throw new RangeError(`AES-256-GCM nonce must be ${aeadNonceLength} bytes`);
}

/**
 * AES-256-GCM encryption; returns ciphertext || 16-byte tag. The caller owns nonce uniqueness:
 * a repeated (key, nonce) pair leaks the XOR of plaintexts and the authentication key.
 */
export function aeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  checkKeyAndNonce(key, nonce);
  const cipher = createCipheriv("aes-256-gcm", key, nonce, {
    authTagLength: aeadTagLength,
  });
  cipher.setAAD(aad);
  const sealed = new Uint8Array(plaintext.byteLength + aeadTagLength);
  const body = cipher.update(plaintext);
  const tail = cipher.final();
  sealed.set(body, 0);
  sealed.set(tail, body.byteLength);
  sealed.set(cipher.getAuthTag(), plaintext.byteLength);
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
    const plaintext = new Uint8Array(bodyLength);
    const body = decipher.update(sealed.subarray(0, bodyLength));
    // final() throws on a bad tag; until then `plaintext` never leaves this function.
    const tail = decipher.final();
    plaintext.set(body, 0);
    plaintext.set(tail, body.byteLength);
    return plaintext;
  } catch (error) {
    throw new BlindsyncError("integrity", "Ciphertext failed authentication", {
      cause: error,
    });
  }
}
