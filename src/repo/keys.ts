/**
 * Keys: one random 32-byte master secret per repository, wrapped by each passphrase in a key
 * slot, and the subkeys derived from it. Changing a passphrase rewrites one slot, never data.
 *
 * Key slot (101 bytes):
 *   "BSKS" | version u8 = 1 | kdf u8 = 1 (scrypt) | logN u8 | r u8 | p u8 | salt (32)
 *   | nonce (12) | AES-256-GCM(scrypt(passphrase), master) (32 + 16-byte tag)
 * with AAD = "blindsync-key/v1" | repository id | the slot bytes before the nonce, so neither
 * the KDF parameters nor the slot's repository can be changed without detection.
 */
import { randomBytes } from "node:crypto";
import {
  DEFAULT_SCRYPT,
  aeadNonceLength,
  aeadOpen,
  aeadSeal,
  aeadTagLength,
  checkScryptParams,
  deriveFromPassphrase,
  hkdfSha256,
  keyedId,
  scryptSaltLength,
  type ScryptParams,
} from "../crypto/index.js";
import { BlindsyncError, isBlindsyncError } from "../errors.js";
import type { IndexAuthenticator } from "../store/index.js";
import { bytesEqual } from "../util/bytes.js";

export const masterKeyLength = 32;
const repositoryIdLength = 32;
const subkeyLength = 32;

/** The independent keys of one repository, one per purpose (as borg keeps them apart). */
export interface Subkeys {
  /** Seeds the per-session AES-256-GCM keys of blobs. */
  readonly encKey: Uint8Array;
  /** HMAC key of blob ids. */
  readonly idKey: Uint8Array;
  /** Seeds the chunker's gear table. */
  readonly chunkerKey: Uint8Array;
  /** Authenticates the repository config record. */
  readonly configKey: Uint8Array;
  /** Authenticates the head chain and the key check value. */
  readonly headKey: Uint8Array;
}

function checkLength(name: string, bytes: Uint8Array, length: number): void {
  if (bytes.byteLength !== length)
    throw new RangeError(
      `${name} must be ${length} bytes, got ${bytes.byteLength}`,
    );
}

/** subkey = HKDF-SHA256(master, salt = repository id, info = "blindsync/v1/<purpose>"). */
export function deriveSubkeys(
  master: Uint8Array,
  repositoryId: Uint8Array,
): Subkeys {
  checkLength("Master key", master, masterKeyLength);
  checkLength("Repository id", repositoryId, repositoryIdLength);
  const derive = (purpose: string): Uint8Array =>
    hkdfSha256(master, repositoryId, `blindsync/v1/${purpose}`, subkeyLength);
  return {
    encKey: derive("enc"),
    idKey: derive("id"),
    chunkerKey: derive("chunker"),
    configKey: derive("config"),
    headKey: derive("head"),
  };
}

/**
 * The pack store's index authenticator (store/packs/): HMAC-SHA256 under its own subkey,
 * HKDF(master, salt = repository id, info = "blindsync/v1/index-mac"). A closure holds the key,
 * so only the ability to MAC crosses into store/, never the key. Kept out of Subkeys because no
 * other part of the repository uses it.
 */
export function indexAuthenticator(
  master: Uint8Array,
  repositoryId: Uint8Array,
): IndexAuthenticator {
  checkLength("Master key", master, masterKeyLength);
  checkLength("Repository id", repositoryId, repositoryIdLength);
  const key = hkdfSha256(
    master,
    repositoryId,
    "blindsync/v1/index-mac",
    subkeyLength,
  );
  return { mac: (bytes) => keyedId(key, bytes) };
}

/**
 * The key of the whole-file checksums of kind `chunk-ids` (file-checksum.ts):
 * HKDF(master, salt = repository id, info = "blindsync/v1/file-checksum"). Its own subkey, so
 * a checksum can never be mistaken for a blob id (both are HMAC-SHA256 over bytes).
 */
export function fileChecksumKey(
  master: Uint8Array,
  repositoryId: Uint8Array,
): Uint8Array {
  checkLength("Master key", master, masterKeyLength);
  checkLength("Repository id", repositoryId, repositoryIdLength);
  return hkdfSha256(
    master,
    repositoryId,
    "blindsync/v1/file-checksum",
    subkeyLength,
  );
}

/**
 * A public fingerprint of the keys, pinned by clients on first use: another master behind the
 * same repository id shows as a different value. Reveals nothing about the keys themselves.
 */
export function keyCheckValue(subkeys: Pick<Subkeys, "headKey">): Uint8Array {
  return keyedId(
    subkeys.headKey,
    new TextEncoder().encode("blindsync key check"),
  );
}

const slotMagic = Uint8Array.from([0x42, 0x53, 0x4b, 0x53]); // "BSKS"
const slotVersion = 1;
const kdfScrypt = 1;
const paramsEnd = 4 + 1 + 1 + 3 + scryptSaltLength; // end of the bytes bound by the AAD
const nonceEnd = paramsEnd + aeadNonceLength;
export const keySlotLength = nonceEnd + masterKeyLength + aeadTagLength;
const aadLabel = new TextEncoder().encode("blindsync-key/v1");

/** A parsed, bounds-checked key slot; its wrapped master is not yet opened. */
export interface KeySlot {
  readonly params: ScryptParams;
  readonly nonce: Uint8Array;
  readonly wrappedMaster: Uint8Array;
  /** The slot bytes before the nonce, bound into the AAD. */
  readonly header: Uint8Array;
}

function slotAad(repositoryId: Uint8Array, header: Uint8Array): Uint8Array {
  const aad = new Uint8Array(
    aadLabel.length + repositoryIdLength + header.length,
  );
  aad.set(aadLabel, 0);
  aad.set(repositoryId, aadLabel.length);
  aad.set(header, aadLabel.length + repositoryIdLength);
  return aad;
}

/**
 * Parses a key slot from the untrusted store without running any KDF. Malformed bytes are an
 * "integrity" error; KDF parameters outside the accepted bounds are a "rollback" error.
 */
export function parseKeySlot(bytes: Uint8Array): KeySlot {
  const malformed = (why: string): BlindsyncError =>
    new BlindsyncError("integrity", `Key slot is malformed: ${why}`);
  if (bytes.byteLength !== keySlotLength)
    throw malformed(`${bytes.byteLength} bytes instead of ${keySlotLength}`);
  if (!bytesEqual(bytes.subarray(0, 4), slotMagic))
    throw malformed("bad magic");
  if (bytes[4] !== slotVersion)
    throw malformed(`unknown version ${bytes[4] ?? 0}`);
  if (bytes[5] !== kdfScrypt) throw malformed(`unknown KDF ${bytes[5] ?? 0}`);
  const params: ScryptParams = {
    logN: bytes[6] ?? 0,
    r: bytes[7] ?? 0,
    p: bytes[8] ?? 0,
    salt: bytes.slice(9, paramsEnd),
  };
  checkScryptParams(params);
  return {
    params,
    nonce: bytes.slice(paramsEnd, nonceEnd),
    wrappedMaster: bytes.slice(nonceEnd),
    header: bytes.slice(0, paramsEnd),
  };
}

/** Cost parameters for a new slot; a missing salt is drawn at random (the normal case). */
export type NewSlotParams = Omit<ScryptParams, "salt"> & {
  readonly salt?: Uint8Array;
};

/** Wraps `master` under `passphrase` for the repository `repositoryId`. */
export async function createKeySlot(
  passphrase: Uint8Array,
  master: Uint8Array,
  repositoryId: Uint8Array,
  params: NewSlotParams = DEFAULT_SCRYPT,
): Promise<Uint8Array> {
  checkLength("Master key", master, masterKeyLength);
  checkLength("Repository id", repositoryId, repositoryIdLength);
  const scrypt: ScryptParams = {
    logN: params.logN,
    r: params.r,
    p: params.p,
    salt: params.salt ?? new Uint8Array(randomBytes(scryptSaltLength)),
  };
  checkScryptParams(scrypt);
  const slot = new Uint8Array(keySlotLength);
  slot.set(slotMagic, 0);
  slot.set([slotVersion, kdfScrypt, scrypt.logN, scrypt.r, scrypt.p], 4);
  slot.set(scrypt.salt, 9);
  // A fresh random salt makes every wrapping key single-use, so a random nonce is safe here.
  const nonce = randomBytes(aeadNonceLength);
  slot.set(nonce, paramsEnd);
  const kek = await deriveFromPassphrase(passphrase, scrypt);
  const aad = slotAad(repositoryId, slot.subarray(0, paramsEnd));
  slot.set(aeadSeal(kek, nonce, master, aad), nonceEnd);
  return slot;
}

/** Turns a slot's (already bounds-checked) KDF parameters into its key-encryption key. */
export type DeriveKek = (params: ScryptParams) => Promise<Uint8Array>;

/**
 * Unwraps the master secret, or returns undefined when this passphrase does not open the slot
 * (the caller tries the slots, then reports "wrong-passphrase"). A slot moved from another
 * repository also yields undefined. Parsing errors are thrown as by parseKeySlot(), before
 * any KDF runs.
 */
export async function openKeySlot(
  passphrase: Uint8Array,
  bytes: Uint8Array,
  repositoryId: Uint8Array,
  derive: DeriveKek = (params) => deriveFromPassphrase(passphrase, params),
): Promise<Uint8Array | undefined> {
  checkLength("Repository id", repositoryId, repositoryIdLength);
  const slot = parseKeySlot(bytes);
  const kek = await derive(slot.params);
  try {
    return aeadOpen(
      kek,
      slot.nonce,
      slot.wrappedMaster,
      slotAad(repositoryId, slot.header),
    );
  } catch (error) {
    if (isBlindsyncError(error, "integrity")) return undefined;
    throw error;
  }
}

/**
 * How many key slots one unlock runs the KDF for. Anyone who can write to the store can add
 * slots, and each costs a full KDF (up to MAX_SCRYPT_WORK), so the work of one unlock is bounded
 * by this times the per-slot ceiling. The slot this client opened last is tried first, so a
 * client that has opened the repository before runs one KDF whatever was added.
 */
export const MAX_KDF_RUNS_PER_UNLOCK = 4;

/** A key slot as the store lists it. */
export interface StoredKeySlot {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/**
 * A stored slot that is not a key slot blindsync can use at all: it does not parse, or asks for
 * KDF parameters outside the bounds. Nobody's passphrase can open it, so it is damage (anyone
 * who can write to the store can add one) that `repair` may remove. A slot that parses but
 * that no passphrase at hand opens is never in this list: it may be another user's.
 */
export interface UnreadableKeySlot {
  readonly name: string;
  /** Why it is unusable: the parse error's message. */
  readonly reason: string;
  /** The parse error: "integrity" (malformed) or "rollback" (out-of-bounds parameters). */
  readonly error: BlindsyncError;
}

/** Splits the stored slots into those that parse and those that never can; no KDF runs. */
export function classifyKeySlots(slots: readonly StoredKeySlot[]): {
  readonly readable: StoredKeySlot[];
  readonly unreadable: UnreadableKeySlot[];
} {
  const readable: StoredKeySlot[] = [];
  const unreadable: UnreadableKeySlot[] = [];
  for (const slot of slots) {
    try {
      parseKeySlot(slot.bytes);
      readable.push(slot);
    } catch (error) {
      if (!isBlindsyncError(error)) throw error;
      unreadable.push({ name: slot.name, reason: error.message, error });
    }
  }
  return { readable, unreadable };
}

/** What this client knows about which slot is its own; both optional. */
export interface SlotPreference {
  /** The slot bytes this client opened last (the client cache's key-slot hint). */
  readonly bytes?: Uint8Array | undefined;
  /** A slot the user named (BLINDSYNC_KEY_SLOT). */
  readonly name?: string | undefined;
}

/**
 * The order in which to try the readable slots, cut to `budget`: the named slot, then the one
 * this client opened last, then the rest by name (the store's order). `untried` lists the
 * slots the budget leaves out, by name.
 */
export function planUnlock(
  readable: readonly StoredKeySlot[],
  preference: SlotPreference = {},
  budget = MAX_KDF_RUNS_PER_UNLOCK,
): { readonly tryOrder: StoredKeySlot[]; readonly untried: string[] } {
  const rank = (slot: StoredKeySlot): number => {
    if (preference.name !== undefined && slot.name === preference.name)
      return 0;
    if (
      preference.bytes !== undefined &&
      bytesEqual(slot.bytes, preference.bytes)
    )
      return 1;
    return 2;
  };
  // Array.prototype.sort is stable: slots of equal rank keep the store's name order.
  const ordered = [...readable].sort((a, b) => rank(a) - rank(b));
  return {
    tryOrder: ordered.slice(0, budget),
    untried: ordered.slice(budget).map((slot) => slot.name),
  };
}
