import { describe, expect, it } from "vitest";
import {
  HEADROOM_BYTES,
  HEAP_GROWING_PERCENT,
  headroomPercent,
  withHeapHeadroom,
} from "./heap-growth.js";

describe("headroomPercent()", () => {
  it("leaves HEADROOM_BYTES above a small heap, within V8's own 4x ceiling", () => {
    expect(headroomPercent(HEADROOM_BYTES / 2)).toBe(200);
    expect(headroomPercent(HEADROOM_BYTES)).toBe(100);
    expect(headroomPercent(1024)).toBe(300);
  });

  it("never grows a large heap more slowly than the CLI's usual factor", () => {
    expect(headroomPercent(HEADROOM_BYTES * 100)).toBe(HEAP_GROWING_PERCENT);
  });
});

describe("withHeapHeadroom()", () => {
  it("returns the work's result, also when calls overlap, and passes its failure on", async () => {
    const both = await Promise.all([
      withHeapHeadroom(() => Promise.resolve(1)),
      withHeapHeadroom(() => Promise.resolve(2)),
    ]);
    expect(both).toEqual([1, 2]);
    await expect(
      withHeapHeadroom(() => Promise.reject(new Error("boom"))),
    ).rejects.toThrow("boom");
  });
});
