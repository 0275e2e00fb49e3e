import { afterEach, describe, expect, it } from "vitest";
import { collectGarbage } from "./garbage-budget.js";
import {
  HEADROOM_BYTES,
  HEAP_GROWING_PERCENT,
  MAX_ROOM_PERCENT,
  MIN_ROOM_BYTES,
  growingPercentFor,
  headroomPercent,
  lastHeapFit,
  limitHeapGrowth,
  unlimitHeapGrowth,
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

describe("limitHeapGrowth()", () => {
  afterEach(() => {
    unlimitHeapGrowth();
  });

  it("leaves MIN_ROOM_BYTES above the live data, more than the 1.25 factor below 80 MiB", () => {
    // 40 MiB live: 1.25 would leave 10 MiB, less than the young generation.
    expect(growingPercentFor(40 * 1024 * 1024, MIN_ROOM_BYTES)).toBe(50);
    expect(growingPercentFor(400 * 1024 * 1024, MIN_ROOM_BYTES)).toBe(
      HEAP_GROWING_PERCENT,
    );
    // A small heap gets at most twice its live data: the next collection may find more.
    expect(
      growingPercentFor(4 * 1024 * 1024, MIN_ROOM_BYTES, MAX_ROOM_PERCENT),
    ).toBe(MAX_ROOM_PERCENT);
  });

  it("refits the factor after every full collection, from the live data then", async () => {
    limitHeapGrowth();
    const first = lastHeapFit();
    expect(first?.percent).toBe(HEAP_GROWING_PERCENT);
    // Live data that the next full collection finds, then the observer's turn.
    const held = Array.from({ length: 20_000 }, (_, index) => ({ index }));
    expect(collectGarbage("major")).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const refit = lastHeapFit();
    expect(refit).not.toBe(first);
    expect(refit?.percent).toBe(
      growingPercentFor(
        refit?.usedBytes ?? 0,
        MIN_ROOM_BYTES,
        MAX_ROOM_PERCENT,
      ),
    );
    expect(held.length).toBe(20_000);
  });

  it("keeps HEADROOM_BYTES inside withHeapHeadroom, MIN_ROOM_BYTES again after", async () => {
    limitHeapGrowth();
    const inside = await withHeapHeadroom(() => Promise.resolve(lastHeapFit()));
    expect(inside?.percent).toBe(
      growingPercentFor(inside?.usedBytes ?? 0, HEADROOM_BYTES),
    );
    const after = lastHeapFit();
    expect(after?.percent).toBe(
      growingPercentFor(
        after?.usedBytes ?? 0,
        MIN_ROOM_BYTES,
        MAX_ROOM_PERCENT,
      ),
    );
    unlimitHeapGrowth();
    expect(lastHeapFit()).toBeUndefined();
  });
});
