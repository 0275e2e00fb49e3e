/**
 * The byte helpers of the pack format's two records (trailer.ts, segment.ts): big-endian fixed
 * fields, a bounds-checked reader whose every failure is an 'integrity' error (the bytes come
 * from storage we do not trust), and the MAC with its purpose label in front.
 */
import { BlindsyncError } from "../../errors.js";
import type { BlobKind, IndexAuthenticator } from "../store.js";

export const MAC_LENGTH = 32;

/** Kinds as stored in packs and segments; snapshots never go into packs. */
export type PackedKind = Exclude<BlobKind, "snapshot">;
const KIND_CODES: Record<PackedKind, number> = { data: 1, tree: 2 };

export function kindCode(kind: PackedKind): number {
  return KIND_CODES[kind];
}

export function kindOfCode(code: number): PackedKind | undefined {
  if (code === 1) return "data";
  if (code === 2) return "tree";
  return undefined;
}

/** MAC(label || body): the label keeps a trailer from ever passing as a segment, or back. */
export function labelledMac(
  authenticator: IndexAuthenticator,
  label: string,
  body: Uint8Array,
): Uint8Array {
  const labelBytes = new TextEncoder().encode(label);
  const input = new Uint8Array(labelBytes.length + body.length);
  input.set(labelBytes, 0);
  input.set(body, labelBytes.length);
  const mac = authenticator.mac(input);
  if (mac.length !== MAC_LENGTH)
    throw new RangeError(`An index MAC must be ${MAC_LENGTH} bytes`);
  return mac;
}

/** Constant-time comparison of two MACs. */
export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++)
    difference |= (a[index] ?? 0) ^ (b[index] ?? 0);
  return difference === 0;
}

/** Writes fixed-size big-endian fields into a buffer sized in advance. */
export class Writer {
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  #at = 0;

  constructor(length: number) {
    this.bytes = new Uint8Array(length);
    this.#view = new DataView(this.bytes.buffer);
  }

  raw(bytes: Uint8Array): this {
    this.bytes.set(bytes, this.#at);
    this.#at += bytes.length;
    return this;
  }

  u8(value: number): this {
    this.#view.setUint8(this.#at, value);
    this.#at += 1;
    return this;
  }

  u16(value: number): this {
    this.#view.setUint16(this.#at, value);
    this.#at += 2;
    return this;
  }

  u32(value: number): this {
    this.#view.setUint32(this.#at, value);
    this.#at += 4;
    return this;
  }

  u64(value: number): this {
    this.#view.setBigUint64(this.#at, BigInt(value));
    this.#at += 8;
    return this;
  }

  get position(): number {
    return this.#at;
  }
}

/** Reads what Writer wrote; running past the end or a u64 past 2^53 is damage. */
export class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #what: string;
  #at = 0;

  constructor(bytes: Uint8Array, what: string) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#what = what;
  }

  #need(length: number): number {
    if (this.#at + length > this.#bytes.length)
      throw damaged(this.#what, "it ends early");
    const at = this.#at;
    this.#at += length;
    return at;
  }

  raw(length: number): Uint8Array {
    const at = this.#need(length);
    return this.#bytes.slice(at, at + length);
  }

  u8(): number {
    return this.#view.getUint8(this.#need(1));
  }

  u16(): number {
    return this.#view.getUint16(this.#need(2));
  }

  u32(): number {
    return this.#view.getUint32(this.#need(4));
  }

  u64(): number {
    const value = this.#view.getBigUint64(this.#need(8));
    if (value > BigInt(Number.MAX_SAFE_INTEGER))
      throw damaged(this.#what, "a length is out of range");
    return Number(value);
  }

  get remaining(): number {
    return this.#bytes.length - this.#at;
  }
}

export function damaged(what: string, why: string): BlindsyncError {
  return new BlindsyncError("integrity", `${what} is damaged: ${why}`, {
    hint: "Run blindsync check; the storage changed or lost bytes",
  });
}
