/**
 * The seeded randomness of the tests, so every random choice and every generated file can be
 * replayed from its seed: one generator (mulberry32) for choices, and a byte stream for content.
 */

/** mulberry32: a small seeded PRNG. */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min));
  }

  /** `count` distinct items of `items`, in random order. */
  pick<T>(items: readonly T[], count: number): T[] {
    if (count > items.length)
      throw new Error(`cannot pick ${count} of ${items.length}`);
    const copy = [...items];
    for (let index = copy.length - 1; index > 0; index--) {
      const other = this.int(0, index + 1);
      const swap = copy[index] as T;
      copy[index] = copy[other] as T;
      copy[other] = swap;
    }
    return copy.slice(0, count);
  }
}

/**
 * `length` pseudo-random bytes from `seed`. A byte-at-a-time xorshift32 stream rather than
 * Prng: it fills the test trees' multi-megabyte files fast, and the files every test was
 * written against keep their exact bytes.
 */
export function seededBytes(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let state = seed | 0 || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[index] = state & 0xff;
  }
  return out;
}
