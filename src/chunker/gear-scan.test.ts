import { createCipheriv, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GearScanner, sharedGearScanner } from "./gear-scan.js";

const MiB = 1024 * 1024;

/** The chunker's JavaScript loop, written out independently: the specification of scan(). */
function referenceScan(
  gear: Int32Array,
  data: Uint8Array,
  from: number,
  to: number,
  hash: number,
  mask: number,
): { cut: number; hash: number } {
  let h = hash;
  for (let i = from; i < to; i++) {
    h = ((h << 1) + (gear[data[i] as number] as number)) | 0;
    if ((h & mask) === 0) return { cut: i + 1, hash: 0 };
  }
  return { cut: -1, hash: h };
}

/** A fixed pseudo-random byte stream (AES-128-CTR under a key made of `seed`). */
function stream(length: number, seed: number): Uint8Array {
  const cipher = createCipheriv(
    "aes-128-ctr",
    Buffer.alloc(16, seed),
    Buffer.alloc(16),
  );
  return cipher.update(Buffer.alloc(length));
}

function gearFrom(seed: Uint8Array): Int32Array {
  return new Int32Array(Uint8Array.from(seed).buffer, 0, 256);
}

/** A mask of the top `bits` bits, as the chunker builds them. */
const topBits = (bits: number) => (-1 << (32 - bits)) | 0;

describe("GearScanner", () => {
  const scanner = sharedGearScanner();

  it("is available on this runtime, and one per thread", () => {
    expect(scanner).toBeInstanceOf(GearScanner);
    expect(sharedGearScanner()).toBe(scanner);
  });

  it("finds the cut and the running hash of the JavaScript loop, for any data, range, hash and mask", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1024, maxLength: 1024 }),
        fc.uint8Array({ minLength: 0, maxLength: 20_000 }),
        fc.nat({ max: 20_000 }),
        fc.nat({ max: 20_000 }),
        fc.integer(),
        fc.integer({ min: 1, max: 16 }),
        (gearSeed, data, a, b, hash, bits) => {
          const gear = gearFrom(gearSeed);
          const from = Math.min(a, b, data.length);
          const to = Math.min(Math.max(a, b), data.length);
          const mask = topBits(bits);
          const cut = scanner?.scan(gear, data, from, to, hash, mask);
          const expected = referenceScan(gear, data, from, to, hash, mask);
          expect(cut).toBe(expected.cut);
          expect(scanner?.hash).toBe(expected.hash);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("scans past its 1 MiB window: a cut in the third MiB, and a hash carried over 3 MiB", () => {
    // With gear[0] = 1 a run of zero bytes keeps a hash of −1 at −1, which no mask meets, so
    // 2.5 MiB of zeros push the first cut into the third window; the bytes after are a fixed
    // pseudo-random stream, so the outcome is the same on every run.
    const gear = gearFrom(stream(1024, 1));
    gear[0] = 1;
    const data = new Uint8Array(3 * MiB + 123);
    data.set(stream(data.length - 2.5 * MiB, 2), 2.5 * MiB);
    const mask = topBits(16);
    const expected = referenceScan(gear, data, 0, data.length, -1, mask);
    expect(expected.cut).toBeGreaterThan(2.5 * MiB);
    expect(scanner?.scan(gear, data, 0, data.length, -1, mask)).toBe(
      expected.cut,
    );
    // Up to the byte before that cut there is none: the hash is carried across both windows.
    const before = referenceScan(gear, data, 3, expected.cut - 1, -1, mask);
    expect(before.cut).toBe(-1);
    expect(scanner?.scan(gear, data, 3, expected.cut - 1, -1, mask)).toBe(-1);
    expect(scanner?.hash).toBe(before.hash);
  });

  it("reloads its gear table when given another one", () => {
    const data = randomBytes(64 * 1024);
    const mask = topBits(10);
    for (const gear of [1, 2, 1].map(() => gearFrom(randomBytes(1024)))) {
      const expected = referenceScan(gear, data, 0, data.length, 0, mask);
      expect(scanner?.scan(gear, data, 0, data.length, 0, mask)).toBe(
        expected.cut,
      );
    }
  });
});
