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

/**
 * Unwraps the master secret, or returns undefined when this passphrase does not open the slot
 * (the caller tries every slot, then reports "wrong-passphrase"). A slot moved from another
 * repository also yields undefined. Parsing errors are thrown as by parseKeySlot(), before
 * any KDF runs.
 */
/** Turns a slot's (already bounds-checked) KDF parameters into its key-encryption key. */
export type DeriveKek = (params: ScryptParams) => Promise<Uint8Array>;

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
