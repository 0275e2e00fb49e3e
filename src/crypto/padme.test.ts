import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { padmeLength } from "./padme.js";

describe("padmeLength()", () => {
  // Worked from the paper's definition: E = floor(log2 L), S = floor(log2 E) + 1, the low E − S
  // bits are rounded up.
  it.each([
    [0, 0],
    [1, 1],
    [2, 2],
    [3, 3],
    [7, 7],
    [8, 8],
    [9, 10],
    [15, 16],
    [17, 18],
    [100, 104],
    [255, 256],
    [1000, 1024],
    [1025, 1088],
    [65_537, 67_584],
    [1_048_576, 1_048_576],
    [1_048_577, 1_081_344],
    [1_000_000, 1_015_808],
    [2 ** 32 + 1, 2 ** 32 + 2 ** 26],
  ])("pads %i to %i", (n, padded) => {
    expect(padmeLength(n)).toBe(padded);
  });

  it("never shrinks, is monotonic, and adds at most 12 %", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 2 ** 20 }),
        (n, step) => {
          const padded = padmeLength(n);
          expect(padded).toBeGreaterThanOrEqual(n);
          expect(padded - n).toBeLessThanOrEqual(Math.ceil(n * 0.12));
          expect(padmeLength(n + step)).toBeGreaterThanOrEqual(padded);
          expect(padmeLength(padded)).toBe(padded);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("is exact at every power of two and just above it", () => {
    for (let e = 1; e < 52; e++) {
      expect(padmeLength(2 ** e)).toBe(2 ** e);
      expect(padmeLength(2 ** e - 1)).toBeLessThanOrEqual(2 ** e);
      expect(padmeLength(2 ** e + 1)).toBeGreaterThan(2 ** e);
    }
  });

  it("refuses negative and fractional lengths", () => {
    expect(() => padmeLength(-1)).toThrow(RangeError);
    expect(() => padmeLength(1.5)).toThrow(RangeError);
  });
});
