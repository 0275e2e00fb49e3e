/**
 * Deterministic bytes and numbers for the corpus and its scripted changes: an AES-128-CTR
 * keystream under a key derived from a seed string. Fast (OpenSSL, GB/s) and identical on every
 * machine and Node version.
 */
import { createCipheriv, createHash, type Cipher } from "node:crypto";

const BLOCK = 64 * 1024;

export class KeyStream {
  readonly #cipher: Cipher;
  #buffer: Buffer = Buffer.alloc(0);
  #offset = 0;

  constructor(seed: string) {
    const key = createHash("sha256").update(seed).digest().subarray(0, 16);
    this.#cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  }

  /** The next `length` keystream bytes (a fresh buffer). */
  bytes(length: number): Buffer {
    return this.#cipher.update(Buffer.alloc(length));
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    if (this.#offset + 4 > this.#buffer.length) {
      this.#buffer = this.bytes(BLOCK);
      this.#offset = 0;
    }
    const value = this.#buffer.readUInt32LE(this.#offset);
    this.#offset += 4;
    return value;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.uint32() / 2 ** 32) * n);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }

  /** `count` distinct indexes in [0, n), in the order drawn. */
  distinct(count: number, n: number, excluded: ReadonlySet<number>): number[] {
    if (count > n - excluded.size)
      throw new Error(`cannot draw ${count} of ${n}`);
    const chosen = new Set<number>();
    while (chosen.size < count) {
      const index = this.below(n);
      if (!excluded.has(index)) chosen.add(index);
    }
    return [...chosen];
  }
}
