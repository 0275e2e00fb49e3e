import { pbkdf2Sync, scrypt, scryptSync } from "node:crypto";
import { BlindsyncError } from "../errors.js";
import { native } from "../util/native.js";

/** scrypt cost parameters as stored in a key slot. N = 2^logN. */
export interface ScryptParams {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Uint8Array;
}

/**
 * N = 2^16, r = 8, p = 1: 64 MiB, about what borg 2's Argon2 default and restic's calibration
 * use. Slots made before with the old default (N = 2^17) keep their parameters and still open.
 */
export const DEFAULT_SCRYPT = { logN: 16, r: 8, p: 1 } as const;

export const scryptSaltLength = 32;
export const derivedKeyLength = 32;

// A key slot comes from the untrusted server, and anyone who can write to it can add slots: too
// low a cost lets it downgrade the passphrase protection of a new slot, too high a cost is a
// denial of service on every client that tries the slot. The ceiling is on the work N·r·p
// (which also caps scrypt's 128·N·r bytes of memory at 256 MiB): twice the old default
// (N = 2^17, r = 8, p = 1), four times today's. The per-field bounds used to allow 512 times
// the old default's work per slot.
export const SCRYPT_BOUNDS = {
  logN: { min: 15, max: 18 },
  r: { min: 1, max: 16 },
  p: { min: 1, max: 4 },
} as const;

/** The most scrypt work (N·r·p) one key slot may ask for: twice N = 2^17, r = 8, p = 1. */
export const MAX_SCRYPT_WORK = 2 ** 21;

function inBounds(value: number, range: { min: number; max: number }): boolean {
  return Number.isInteger(value) && value >= range.min && value <= range.max;
}

/**
 * Whether a cost is one a key slot may carry: each field within its bounds and N·r·p at most
 * MAX_SCRYPT_WORK. The same rule for slots read from the server and for costs a user asks for.
 */
export function scryptCostInBounds(cost: Omit<ScryptParams, "salt">): boolean {
  return (
    inBounds(cost.logN, SCRYPT_BOUNDS.logN) &&
    inBounds(cost.r, SCRYPT_BOUNDS.r) &&
    inBounds(cost.p, SCRYPT_BOUNDS.p) &&
    2 ** cost.logN * cost.r * cost.p <= MAX_SCRYPT_WORK
  );
}

/** Throws BlindsyncError("rollback") unless the parameters are within bounds. Call before the KDF. */
export function checkScryptParams(params: ScryptParams): void {
  const ok =
    scryptCostInBounds(params) && params.salt.byteLength === scryptSaltLength;
  if (!ok)
    throw new BlindsyncError(
      "rollback",
      `Key slot has out-of-bounds KDF parameters (logN ${params.logN}, r ${params.r}, p ${params.p}, salt ${params.salt.byteLength} bytes)`,
      {
        hint: `blindsync accepts scrypt logN ${SCRYPT_BOUNDS.logN.min}–${SCRYPT_BOUNDS.logN.max}, r ${SCRYPT_BOUNDS.r.min}–${SCRYPT_BOUNDS.r.max}, p ${SCRYPT_BOUNDS.p.min}–${SCRYPT_BOUNDS.p.max} with N·r·p at most 2^${Math.log2(MAX_SCRYPT_WORK)}, and a ${scryptSaltLength}-byte salt`,
      },
    );
}

/** One scrypt computation: RFC 7914's inputs (N = 2^logN) and the output's length. */
export interface ScryptInput {
  readonly passphrase: Uint8Array;
  readonly salt: Uint8Array;
  readonly logN: number;
  readonly r: number;
  readonly p: number;
  readonly length: number;
}

/** Node's scrypt (OpenSSL's), the reference the addon's result must equal. */
function nodeScrypt(input: ScryptInput): Promise<Uint8Array> {
  const { passphrase, salt, logN, r, p, length } = input;
  const N = 2 ** logN;
  // scrypt needs 128·r·N bytes for V plus 128·r·p for B; node's default cap is 32 MiB.
  const maxmem = 128 * r * (N + p) + 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(passphrase, salt, length, { N, r, p, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(new Uint8Array(key.buffer, key.byteOffset, key.byteLength));
    });
  });
}

/** scrypt's ROMix of each 128·r-byte block of `b`, as the native addon exports it. */
export type ScryptMix = (
  b: Buffer,
  logN: number,
  r: number,
  p: number,
) => Promise<Buffer>;

/**
 * RFC 7914's scrypt with the ROMix step through `mix`; the PBKDF2-HMAC-SHA256 steps are node's.
 * Unchecked: blindsync calls it through scryptThrough; the tests call it to test the addon.
 */
export async function scryptWithMix(
  mix: ScryptMix,
  input: ScryptInput,
): Promise<Uint8Array> {
  const { passphrase, salt, logN, r, p, length } = input;
  const blocks = pbkdf2Sync(passphrase, salt, 1, 128 * r * p, "sha256");
  let mixed: Buffer;
  try {
    mixed = await mix(blocks, logN, r, p);
  } finally {
    blocks.fill(0);
  }
  const key = pbkdf2Sync(passphrase, mixed, 1, length, "sha256");
  mixed.fill(0);
  return new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
}

/** Whether `mix` gives OpenSSL's result for this r and p at N = 16 (microseconds of work). */
async function agreesWithNode(
  mix: ScryptMix,
  r: number,
  p: number,
): Promise<boolean> {
  const probe = { passphrase: Buffer.from("probe"), salt: Buffer.alloc(32) };
  const expected = scryptSync(probe.passphrase, probe.salt, 32, {
    N: 16,
    r,
    p,
  });
  try {
    const actual = await scryptWithMix(mix, {
      ...probe,
      logN: 4,
      r,
      p,
      length: 32,
    });
    return expected.equals(actual);
  } catch {
    return false;
  }
}

/**
 * scrypt with its ROMix step through `mix` where it agrees with node's, node's scrypt where it
 * does not or where there is none. The addon's C (native/scrypt.c) is hand-written crypto whose
 * wrong result would be silent: a key slot that node's scrypt, on a machine without the addon,
 * could not open. So before the first use with each (r, p) in a process, it is compared with
 * node's scrypt at N = 16; the loop count is all that N changes in it.
 */
export function scryptThrough(
  mix: ScryptMix | undefined,
): (input: ScryptInput) => Promise<Uint8Array> {
  const checked = new Map<string, Promise<boolean>>();
  return async (input) => {
    if (mix === undefined) return nodeScrypt(input);
    const key = `${String(input.r)},${String(input.p)}`;
    let agrees = checked.get(key);
    if (agrees === undefined) {
      agrees = agreesWithNode(mix, input.r, input.p);
      checked.set(key, agrees);
    }
    if (!(await agrees)) return nodeScrypt(input);
    try {
      return await scryptWithMix(mix, input);
    } catch {
      // It could not map its memory: OpenSSL's malloc may still find it.
      return await nodeScrypt(input);
    }
  };
}

/**
 * scrypt (RFC 7914) with its memory-hard step, scryptROMix, in the native addon where it built:
 * OpenSSL takes the 128·r·N bytes from malloc in 4 KiB pages, the addon maps them in 2 MiB
 * pages where the kernel allows them, which saves a page fault per 4 KiB and most TLB misses
 * of ROMix's random reads. At the default N = 2^16, r = 8 in a fresh process on the project's
 * machine, about half the KDF's CPU time (docs/dependencies.md has the measurement and the
 * decision to keep it). The two agree byte for byte (kdf.test.ts).
 */
export const scryptKey = scryptThrough(native?.scryptMix);

/** scrypt(passphrase, params) → 32 bytes. Checks the parameters first. */
export async function deriveFromPassphrase(
  passphrase: Uint8Array,
  params: ScryptParams,
): Promise<Uint8Array> {
  checkScryptParams(params);
  const { salt, logN, r, p } = params;
  return scryptKey({ passphrase, salt, logN, r, p, length: derivedKeyLength });
}
