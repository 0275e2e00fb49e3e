/**
 * The AES-GCM keys that open stored blobs, one per sealing session (HKDF of the encryption key
 * and the session id in each blob's header), cached so that a restore runs the HKDF once per
 * session rather than once per blob. Used by blob-codec.ts alone.
 */
import { sessionKey } from "../crypto/index.js";
import { bytesEqual, toHex } from "../util/bytes.js";

/**
 * Session keys for opening, by session id: a repository holds blobs from a handful of
 * sessions (one per process and worker), so a restore would otherwise run the same HKDF for
 * every blob. Bounded, and keyed by the encryption key too, so two repositories never mix.
 */
const openingKeys = new Map<string, Uint8Array>();
const MAX_OPENING_KEYS = 1024;

interface RecentOpeningKey {
  readonly encKey: Uint8Array;
  readonly sessionId: Uint8Array;
  readonly key: Uint8Array;
}

/**
 * The last few session keys used, found by comparing bytes: a restore of many small files
 * opens one blob per file, and naming the map's entry (two hex strings per blob) cost more
 * than the comparison (docs/performance.md, "Restore CPU, round three"). Most blobs of a
 * repository come from a few sessions, so a short list catches nearly all of them.
 */
const recentOpeningKeys: RecentOpeningKey[] = [];
const RECENT_OPENING_KEYS = 8;

export function openingKey(
  encKey: Uint8Array,
  sessionId: Uint8Array,
): Uint8Array {
  for (const recent of recentOpeningKeys)
    if (
      bytesEqual(recent.sessionId, sessionId) &&
      bytesEqual(recent.encKey, encKey)
    )
      return recent.key;
  const cacheKey = `${toHex(encKey)}:${toHex(sessionId)}`;
  let key = openingKeys.get(cacheKey);
  if (key === undefined) {
    if (openingKeys.size >= MAX_OPENING_KEYS) openingKeys.clear();
    key = sessionKey(encKey, sessionId);
    openingKeys.set(cacheKey, key);
  }
  // Copies: the caller's arrays are views into a stored blob and a key it may reuse.
  if (recentOpeningKeys.length >= RECENT_OPENING_KEYS) recentOpeningKeys.pop();
  recentOpeningKeys.unshift({
    encKey: new Uint8Array(encKey),
    sessionId: new Uint8Array(sessionId),
    key,
  });
  return key;
}
