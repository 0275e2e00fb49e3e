import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { IndexCache } from "./index-cache.js";
import type { Segment } from "./segment.js";

const id = () => new Uint8Array(randomBytes(32));
const packA = { id: "aa".repeat(32), kind: "data" as const, regionLength: 300 };
const packB = { id: "bb".repeat(32), kind: "data" as const, regionLength: 300 };
const x = id();
const y = id();

/** x and y in pack A; x deleted there; x put again into pack B. */
const segments: Record<string, Segment> = {
  ["01".repeat(32)]: {
    packs: [packA],
    entries: [
      { id: x, pack: 0, offset: 0, length: 100 },
      { id: y, pack: 0, offset: 100, length: 200 },
    ],
    supersedes: [],
    tombstones: [],
  },
  ["02".repeat(32)]: {
    packs: [packA],
    entries: [],
    supersedes: [],
    tombstones: [{ id: x, pack: 0 }],
  },
  ["03".repeat(32)]: {
    packs: [packB],
    entries: [{ id: x, pack: 0, offset: 0, length: 100 }],
    supersedes: [],
    tombstones: [],
  },
};

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((item, index) =>
    permutations([...items.slice(0, index), ...items.slice(index + 1)]).map(
      (rest) => [item, ...rest],
    ),
  );
}

describe("the merged index", () => {
  it("is the same whatever order the segments are applied in: a tombstone kills only its (blob, pack)", () => {
    for (const order of permutations(Object.keys(segments))) {
      const cache = IndexCache.open(":memory:");
      for (const name of order) cache.apply(name, segments[name]!);
      expect(cache.locate(x)?.pack, order.join(",")).toBe(packB.id);
      expect(cache.locate(y)?.pack).toBe(packA.id);
      expect(
        cache.packUsage().map((usage) => [usage.pack, usage.liveBytes]),
      ).toEqual([
        [packA.id, 200],
        [packB.id, 100],
      ]);
      cache.close();
    }
  });

  it("a superseded segment's entries go, and it is never applied again, before or after its superseder", () => {
    const superseder: Segment = {
      packs: [packB],
      entries: [{ id: x, pack: 0, offset: 0, length: 100 }],
      supersedes: ["01".repeat(32), "02".repeat(32)],
      tombstones: [],
    };
    for (const first of [true, false]) {
      const cache = IndexCache.open(":memory:");
      if (first) cache.apply("09".repeat(32), superseder);
      cache.apply("01".repeat(32), segments["01".repeat(32)]!);
      if (!first) cache.apply("09".repeat(32), superseder);
      expect(cache.has(y)).toBe(false);
      expect(cache.locate(x)?.pack).toBe(packB.id);
      expect(cache.applied()).toEqual(["09".repeat(32)]);
      cache.close();
    }
  });

  it("forgets applied segments storage no longer lists, but only those seen before the listing", () => {
    const cache = IndexCache.open(":memory:");
    cache.apply("01".repeat(32), segments["01".repeat(32)]!);
    const bound = cache.sequence;
    cache.apply("03".repeat(32), segments["03".repeat(32)]!);
    cache.forgetUnlisted(new Set(), bound);
    expect(cache.has(y)).toBe(false);
    expect(cache.locate(x)?.pack).toBe(packB.id);
    cache.close();
  });
});
