import { scrypt } from "node:crypto";
import { BlindsyncError } from "../errors.js";

/** scrypt cost parameters as stored in a key slot. N = 2^logN. */
export interface ScryptParams {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Uint8Array;
}

/** N = 2^17, r = 8, p = 1: about 128 MiB and a few hundred ms, the research's recommendation. */
export const DEFAULT_SCRYPT = { logN: 17, r: 8, p: 1 } as const;

export const scryptSaltLength = 32;
export const derivedKeyLength = 32;

// A key slot comes from the untrusted server: too low a cost lets it downgrade the passphrase
// protection of a new slot, too high a cost is a denial of service on the client.
const bounds = {
  logN: { min: 15, max: 20 },
  r: { min: 1, max: 32 },
  p: { min: 1, max: 16 },
} as const;

function inBounds(value: number, range: { min: number; max: number }): boolean {
  return Number.isInteger(value) && value >= range.min && value <= range.max;
}

/** Throws BlindsyncError("rollback") unless the parameters are within bounds. Call before the KDF. */
export function checkScryptParams(params: ScryptParams): void {
  const ok =
    inBounds(params.logN, bounds.logN) &&
    inBounds(params.r, bounds.r) &&
    inBounds(params.p, bounds.p) &&
    params.salt.byteLength === scryptSaltLength;
  if (!ok)
    throw new BlindsyncError(
      "rollback",
      `Key slot has out-of-bounds KDF parameters (logN ${params.logN}, r ${params.r}, p ${params.p}, salt ${params.salt.byteLength} bytes)`,
      {
        hint: `blindsync accepts scrypt logN ${bounds.logN.min}–${bounds.logN.max}, r ${bounds.r.min}–${bounds.r.max}, p ${bounds.p.min}–${bounds.p.max} and a ${scryptSaltLength}-byte salt`,
      },
    );
}

/** scrypt(passphrase, params) → 32 bytes. Checks the parameters first. */
export async function deriveFromPassphrase(
  passphrase: Uint8Array,
  params: ScryptParams,
): Promise<Uint8Array> {
  checkScryptParams(params);
  const N = 2 ** params.logN;
  // scrypt needs 128·r·N bytes for V plus 128·r·p for B; node's default cap is 32 MiB.
  const maxmem = 128 * params.r * (N + params.p) + 16 * 1024 * 1024;
  return await new Promise((resolve, reject) => {
    scrypt(
      passphrase,
      params.salt,
      derivedKeyLength,
      { N, r: params.r, p: params.p, maxmem },
      (error, key) => {
        if (error) reject(error);
        else
          resolve(new Uint8Array(key.buffer, key.byteOffset, key.byteLength));
      },
    );
  });
}
