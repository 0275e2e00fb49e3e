import { describe, expect, it } from "vitest";
import { tuneAllocator } from "./allocator.js";
import { native } from "./native.js";

describe("tuneAllocator()", () => {
  it("sets glibc's malloc thresholds through the addon that npm ci builds", () => {
    expect(tuneAllocator()).toBe(true);
  });

  it("refuses thresholds that are not positive", () => {
    expect(() => native?.tuneAllocator(0, 1)).toThrow(TypeError);
    expect(() => native?.tuneAllocator(1, -1)).toThrow(TypeError);
  });
});
