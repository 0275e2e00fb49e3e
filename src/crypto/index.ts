/**
 * crypto: thin, typed wrappers over node:crypto — HKDF, HMAC/SHA-256 ids, AES-256-GCM, scrypt
 * with bounds checked before it runs, PADME lengths and the nonce sessions of the blob format.
 * Holds no policy about repositories. May import only node built-ins, src/errors.ts and src/util.
 */

export {
  aeadKeyLength,
  aeadNonceLength,
  aeadOpen,
  aeadSeal,
  aeadTagLength,
} from "./aead.js";
export { hkdfSha256 } from "./hkdf.js";
export {
  DEFAULT_SCRYPT,
  SCRYPT_BOUNDS,
  checkScryptParams,
  deriveFromPassphrase,
  derivedKeyLength,
  scryptCostInBounds,
  scryptKey,
  scryptSaltLength,
  type ScryptInput,
  type ScryptParams,
} from "./kdf.js";
export {
  createSha256,
  keyedId,
  sha256,
  type Sha256Hasher,
} from "./keyed-id.js";
export { padmeLength } from "./padme.js";
export {
  SealingSession,
  sessionIdLength,
  sessionKey,
  sessionNonce,
  sessionSealLimit,
} from "./session.js";
