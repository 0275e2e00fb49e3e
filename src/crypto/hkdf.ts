import { hkdfSync } from "node:crypto";

/** HKDF-SHA256 (RFC 5869). `info` is a label such as "blindsync/v1/enc"; bytes are for test vectors. */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: string | Uint8Array,
  length: number,
): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", ikm, salt, info, length));
}
