/**
 * The index cache following what storage shows: packs it no longer lists are forgotten (only
 * those learnt before the listing began), a blob in several packs is found in each, and a
 * segment refused once is applied when its authenticated bytes come back.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { IndexCache } from "./index-cache.js";
import type { Segment } from "./segment.js";

const blob = () => new Uint8Array(randomBytes(32));
const pack = (hex: string) => ({
  id: hex.repeat(32),
  kind: "data" as const,
  regionLength: 100,
});

function segmentOf(packHex: string, ids: Uint8Array[]): Segment {
  return {
    packs: [pack(packHex)],
    entries: ids.map((id, index) => ({
      id,
      pack: 0,
      offset: 0,
      length: 10 + index,
    })),
    supersedes: [],
    tombstones: [],
  };
}

describe("the index cache and storage's listings", () => {
  it("forgets the blobs of a pack storage no longer lists, keeps the rest and what was learnt after the listing began", () => {
    const cache = IndexCache.open(":memory:");
    const [x, y, z] = [blob(), blob(), blob()];
    cache.apply("01".repeat(32), segmentOf("aa", [x]));
    cache.apply("02".repeat(32), segmentOf("bb", [y]));
    const bound = cache.sequence;
    // Another client's pack and segment, read after this client listed packs/.
    cache.apply("03".repeat(32), segmentOf("cc", [z]));
    cache.forgetUnlistedPacks(new Set(["bb".repeat(32)]), bound);
    expect(cache.has(x)).toBe(false);
    expect(cache.knowsPack("aa".repeat(32))).toBe(false);
    expect(cache.has(y)).toBe(true);
    expect(cache.has(z)).toBe(true);
    expect(cache.knowsPack("cc".repeat(32))).toBe(true);
    cache.close();
  });

  it("gives every location of a blob stored in two packs, the first learnt first", () => {
    const cache = IndexCache.open(":memory:");
    const x = blob();
    cache.apply("01".repeat(32), segmentOf("aa", [x]));
    cache.apply("02".repeat(32), segmentOf("bb", [x]));
    expect(cache.locateAll(x).map((location) => location.pack)).toStrictEqual([
      "aa".repeat(32),
      "bb".repeat(32),
    ]);
    expect(cache.locate(x)?.pack).toBe("aa".repeat(32));
    cache.close();
  });

  it("applies a segment refused before once its authenticated bytes are applied", () => {
    const cache = IndexCache.open(":memory:");
    const x = blob();
    cache.reject("01".repeat(32));
    expect(cache.rejected()).toStrictEqual(["01".repeat(32)]);
    cache.apply("01".repeat(32), segmentOf("aa", [x]));
    expect(cache.has(x)).toBe(true);
    expect(cache.rejected()).toStrictEqual([]);
    cache.close();
  });
});
