import { describe, expect, it } from "vitest";
import { ARENA_MAX, tuneAllocator } from "./allocator.js";
import { native } from "./native.js";

describe("tuneAllocator()", () => {
  it("sets glibc's malloc thresholds through the addon that npm ci builds", () => {
    expect(tuneAllocator()).toBe(true);
  });

  it("refuses thresholds that are not positive", () => {
    expect(() => native?.tuneAllocator(0, 1)).toThrow(TypeError);
    expect(() => native?.tuneAllocator(1, -1)).toThrow(TypeError);
    expect(() => native?.tuneAllocator(1, 1, 0)).toThrow(TypeError);
  });

  it("bounds the malloc arenas threads share (ARENA_MAX, a third argument)", () => {
    expect(ARENA_MAX).toBe(1);
    expect(
      native?.tuneAllocator(32 * 1024 * 1024, 32 * 1024 * 1024, ARENA_MAX),
    ).toBe(true);
  });
});
