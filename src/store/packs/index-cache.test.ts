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

  it("knownAmong() and locateMany() answer for every id, across batches of every padded size, with snapshots, duplicates and unknown ids", () => {
    const cache = IndexCache.open(":memory:");
    const stored = Array.from({ length: 150 }, id);
    cache.apply("04".repeat(32), {
      packs: [packA],
      entries: stored.map((blob, index) => ({
        id: blob,
        pack: 0,
        offset: index * 10,
        length: 10,
      })),
      supersedes: [],
      tombstones: [],
    });
    const hex = (blob: Uint8Array) => Buffer.from(blob).toString("hex");
    const where = new Map(
      stored.map((blob, index) => [
        hex(blob),
        { pack: packA.id, kind: "data", offset: index * 10, length: 10 },
      ]),
    );
    const snapshot = id();
    cache.addSnapshot(snapshot, 42);
    const unknown = Array.from({ length: 70 }, id);
    // Interleaved so that every batch of 64 holds some of each, and the last one is short.
    const asked = stored.flatMap((blob, index) => [
      blob,
      ...(index < unknown.length ? [unknown[index]!] : []),
      ...(index % 50 === 0 ? [snapshot, blob] : []),
    ]);
    expect(asked.length % 64).not.toBe(0);
    const expectedKnown = (some: readonly Uint8Array[]) =>
      new Set(
        some
          .filter((blob) => where.has(hex(blob)) || hex(blob) === hex(snapshot))
          .map(hex),
      );
    expect(cache.knownAmong(asked)).toEqual(expectedKnown(asked));
    expect(cache.knownAmong(asked).size).toBe(151);
    expect(cache.locateMany(asked)).toEqual(
      asked.map((blob) => where.get(hex(blob))),
    );
    expect(cache.knownAmong([])).toEqual(new Set());
    expect(cache.locateMany([])).toEqual([]);
    // Batches of every padded size, and a part of one.
    for (const count of [1, 2, 3, 5, 17, 63, 64, 65, 129]) {
      const some = asked.slice(count, 2 * count);
      expect(cache.knownAmong(some)).toEqual(expectedKnown(some));
      expect(cache.locateMany(some)).toEqual(
        some.map((blob) => where.get(hex(blob))),
      );
    }
    expect(cache.has(snapshot)).toBe(true);
    expect(cache.has(unknown[0]!)).toBe(false);
    cache.close();
  });

  it("locateMany() gives a blob stored twice where locate() does: the first location learnt", () => {
    for (const order of [
      ["01".repeat(32), "03".repeat(32)],
      ["03".repeat(32), "01".repeat(32)],
    ]) {
      const cache = IndexCache.open(":memory:");
      for (const name of order) cache.apply(name, segments[name]!);
      const first = order[0] === "01".repeat(32) ? packA.id : packB.id;
      expect(cache.locate(x)?.pack).toBe(first);
      expect(cache.locateMany([y, x, x]).map((found) => found?.pack)).toEqual([
        packA.id,
        first,
        first,
      ]);
      cache.close();
    }
  });
});
