import { randomBytes } from "node:crypto";
import { bytesEqual } from "../util/bytes.js";
import { hkdfSha256 } from "./hkdf.js";

export const sessionIdLength = 24; // 192 random bits: collisions between sessions are negligible

/**
 * Seals per session before its nonces run out. Counters are 64-bit, but borg 2 and NIST
 * SP 800-38D keep one GCM key well below 2^32 invocations; a fresh session costs one HKDF.
 */
export const sessionSealLimit = 2n ** 32n;

/** The AES-256-GCM key of one session: HKDF(encKey, salt = sessionId). */
export function sessionKey(
  encKey: Uint8Array,
  sessionId: Uint8Array,
): Uint8Array {
  return hkdfSha256(encKey, sessionId, "blindsync/v1/session-key", 32);
}

/** nonce = 4 zero bytes || counter as u64 big-endian. */
export function sessionNonce(counter: bigint): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, counter, false);
  return nonce;
}

/**
 * The borg 2 nonce scheme: each process and each worker draws a random session id, derives a
 * session key from the encryption key, and counts nonces up from zero. Nonces cannot repeat
 * without any stored counter, so crashes and concurrent clients are safe.
 *
 * A session never rotates itself, because its id is written into every blob it seals: once
 * `exhausted` is true, nextCounter() throws and the owner must start a new SealingSession.
 * Not shareable between worker threads (each thread makes its own).
 */
export class SealingSession {
  readonly sessionId: Uint8Array;
  readonly #limit: bigint;
  #counter = 0n;
  #cachedEncKey: Uint8Array | undefined;
  #cachedKey: Uint8Array | undefined;

  /**
   * `sessionId` is random unless given (known-answer tests); `sealLimit` may only lower the
   * default, which is safe in any case and lets tests reach exhaustion.
   */
  constructor(options: { sessionId?: Uint8Array; sealLimit?: bigint } = {}) {
    const sessionId = options.sessionId ?? randomBytes(sessionIdLength);
    if (sessionId.byteLength !== sessionIdLength)
      throw new RangeError(`Session id must be ${sessionIdLength} bytes`);
    const limit = options.sealLimit ?? sessionSealLimit;
    if (limit < 1n || limit > sessionSealLimit)
      throw new RangeError(
        `Seal limit must be between 1 and ${sessionSealLimit}`,
      );
    this.sessionId = new Uint8Array(sessionId);
    this.#limit = limit;
  }

  /** sessionKey(encKey, sessionId), derived once per encryption key and then cached. */
  keyFor(encKey: Uint8Array): Uint8Array {
    if (
      this.#cachedKey === undefined ||
      this.#cachedEncKey === undefined ||
      !bytesEqual(this.#cachedEncKey, encKey)
    ) {
      this.#cachedEncKey = new Uint8Array(encKey);
      this.#cachedKey = sessionKey(encKey, this.sessionId);
    }
    return this.#cachedKey;
  }

  get exhausted(): boolean {
    return this.#counter >= this.#limit;
  }

  /** Reserves the next counter; each value is handed out once. */
  nextCounter(): bigint {
    if (this.exhausted)
      throw new RangeError(
        "Sealing session is exhausted; start a new SealingSession",
      );
    const counter = this.#counter;
    this.#counter += 1n;
    return counter;
  }
}
