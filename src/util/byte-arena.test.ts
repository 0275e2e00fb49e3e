import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ByteArena } from "./byte-arena.js";

describe("ByteArena", () => {
  it("copies small byte strings into shared slabs of its own, never views of the original", () => {
    const source = randomBytes(8192);
    const arena = new ByteArena();
    const parts = [
      source.subarray(0, 32),
      source.subarray(100, 140),
      source.subarray(500, 501),
    ];
    const copies = parts.map((part) => arena.copy(part));
    copies.forEach((copy, index) => {
      expect(copy.equals(parts[index] as Buffer)).toBe(true);
      expect(copy.buffer).not.toBe(source.buffer);
    });
    // One slab for all three: no backing store per copy.
    expect(copies[1]?.buffer).toBe(copies[0]?.buffer);
    expect(copies[2]?.buffer).toBe(copies[0]?.buffer);
    source.fill(0);
    expect(copies[0]?.equals(parts[0] as Buffer)).toBe(false);
  });

  it("starts a new slab when one is full, and gives a large string memory of its own", () => {
    const arena = new ByteArena();
    const first = arena.copy(randomBytes(8192));
    const copies = Array.from({ length: 9 }, () =>
      arena.copy(randomBytes(8000)),
    );
    expect(new Set(copies.map((copy) => copy.buffer)).size).toBe(2);
    expect(first.buffer).toBe(copies[0]?.buffer);
    const large = randomBytes(100_000);
    const copy = arena.copy(large);
    expect(copy.equals(large)).toBe(true);
    expect(copy.buffer.byteLength).toBe(large.length);
  });
});
