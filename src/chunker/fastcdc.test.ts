import { readFileSync, writeFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hkdfSha256, sha256 } from "../crypto/index.js";
import { toHex } from "../util/bytes.js";
import {
  Chunker,
  DEFAULT_CHUNKER_PARAMS,
  checkChunkerParams,
  chunkBuffer,
  gearTableFromKey,
  type ChunkerParams,
} from "./fastcdc.js";
import { sharedGearScanner } from "./gear-scan.js";

const MiB = 1024 * 1024;
const goldenPath = new URL("golden-chunks.json", import.meta.url);
const goldenKey = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const gear = gearTableFromKey(goldenKey);
const small: ChunkerParams = { minSize: 64, avgSize: 256, maxSize: 1024 };

/** mulberry32: a tiny seeded PRNG, so the golden input needs no fixture file. */
function pseudoRandomBytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const words = new DataView(out.buffer);
  let state = seed | 0;
  for (let i = 0; i + 4 <= length; i += 4) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    words.setUint32(i, (t ^ (t >>> 14)) >>> 0, true);
  }
  return out;
}

function chunkInPieces(
  params: ChunkerParams,
  data: Uint8Array,
  pieceLengths: readonly number[],
): Uint8Array[] {
  const chunker = new Chunker(gear, params);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const length of pieceLengths) {
    if (offset >= data.length) break;
    chunks.push(...chunker.push(data.subarray(offset, offset + length)));
    offset += length;
  }
  chunks.push(...chunker.push(data.subarray(offset)), ...chunker.finish());
  return chunks;
}

interface GoldenChunk {
  offset: number;
  length: number;
  sha256: string;
}

function describeChunks(
  lengths: readonly number[],
  data: Uint8Array,
): GoldenChunk[] {
  let offset = 0;
  return lengths.map((length) => {
    const chunk = {
      offset,
      length,
      sha256: toHex(sha256(data.subarray(offset, offset + length))),
    };
    offset += length;
    return chunk;
  });
}

const golden = pseudoRandomBytes(0x5eed, 24 * MiB);

/** A seed, a length of up to 20,000 bytes and the lengths of the pieces it is pushed in. */
const smallSplitInputs = [
  fc.integer(),
  fc.nat({ max: 20_000 }),
  fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 60 }),
] as const;

describe("gearTableFromKey()", () => {
  it("reads 256 big-endian int32 from HKDF(key, '', 'blindsync/v1/gear', 1024)", () => {
    const bytes = hkdfSha256(
      goldenKey,
      new Uint8Array(0),
      "blindsync/v1/gear",
      1024,
    );
    const view = new DataView(bytes.buffer);
    expect(gear).toHaveLength(256);
    expect(gear[0]).toBe(view.getInt32(0, false));
    expect(gear[255]).toBe(view.getInt32(1020, false));
  });

  it("gives another table for another key", () => {
    expect(gearTableFromKey(new Uint8Array(32))).not.toEqual(gear);
  });
});

describe("checkChunkerParams()", () => {
  it.each([
    ["an average that is not a power of two", { ...small, avgSize: 300 }],
    ["min equal to avg", { ...small, minSize: 256 }],
    ["max equal to avg", { ...small, maxSize: 256 }],
    ["a zero minimum", { ...small, minSize: 0 }],
    [
      "a maximum above 64 MiB",
      { minSize: MiB, avgSize: 2 * MiB, maxSize: 65 * MiB },
    ],
    ["a fractional size", { ...small, minSize: 64.5 }],
  ])("rejects %s with a RangeError", (_, params) => {
    expect(() => {
      checkChunkerParams(params);
    }).toThrow(RangeError);
    expect(() => new Chunker(gear, params)).toThrow(RangeError);
  });

  it("accepts the defaults", () => {
    expect(() => {
      checkChunkerParams(DEFAULT_CHUNKER_PARAMS);
    }).not.toThrow();
  });
});

describe("Chunker", () => {
  it("cuts 24 MiB of seeded data exactly as the committed golden table says", () => {
    const actual = describeChunks(
      chunkBuffer(gear, DEFAULT_CHUNKER_PARAMS, golden),
      golden,
    );
    // UPDATE_GOLDEN=1 rewrites the table; a change of cut points must then show as a reviewed diff.
    if (process.env.UPDATE_GOLDEN === "1")
      writeFileSync(goldenPath, JSON.stringify(actual, null, 2) + "\n");
    const expected = JSON.parse(
      readFileSync(goldenPath, "utf8"),
    ) as GoldenChunk[];
    expect(actual).toEqual(expected);
  });

  it("cuts the golden data the same with the JavaScript scan loop as with WebAssembly's", () => {
    expect(sharedGearScanner()).toBeDefined();
    const javascript = new Chunker(gear, DEFAULT_CHUNKER_PARAMS, null);
    const lengths = [...javascript.push(golden), ...javascript.finish()].map(
      (chunk) => chunk.length,
    );
    expect(lengths).toEqual(chunkBuffer(gear, DEFAULT_CHUNKER_PARAMS, golden));
  });

  it("finds the same cut points however 24 MiB is split into push() calls", () => {
    const expected = chunkBuffer(gear, DEFAULT_CHUNKER_PARAMS, golden);
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3 * MiB }), {
          minLength: 1,
          maxLength: 40,
        }),
        (pieces) => {
          const chunks = chunkInPieces(DEFAULT_CHUNKER_PARAMS, golden, pieces);
          expect(chunks.map((c) => c.length)).toEqual(expected);
        },
      ),
      { numRuns: 10 },
    );
  });

  it("finds the same cut points however small inputs are split, and loses no byte", () => {
    fc.assert(
      fc.property(...smallSplitInputs, (seed, length, pieces) => {
        const data = pseudoRandomBytes(seed, length);
        const whole = chunkBuffer(gear, small, data);
        const chunks = chunkInPieces(small, data, pieces);
        expect(chunks.map((c) => c.length)).toEqual(whole);
        expect(Buffer.concat(chunks).equals(data)).toBe(true);
        chunks.forEach((chunk, i) => {
          expect(chunk.length).toBeLessThanOrEqual(small.maxSize);
          if (i < chunks.length - 1)
            expect(chunk.length).toBeGreaterThan(small.minSize);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("cuts data without entropy at maxSize", () => {
    const zeros = new Uint8Array(20 * MiB);
    expect(chunkBuffer(gear, DEFAULT_CHUNKER_PARAMS, zeros)).toEqual([
      8 * MiB,
      8 * MiB,
      4 * MiB,
    ]);
  });

  it("returns chunks that stay valid after the caller reuses its read buffer", () => {
    const data = pseudoRandomBytes(7, 4000);
    const chunker = new Chunker(gear, small);
    const readBuffer = new Uint8Array(500);
    const chunks: Uint8Array[] = [];
    for (let offset = 0; offset < data.length; offset += readBuffer.length) {
      readBuffer.set(data.subarray(offset, offset + readBuffer.length));
      chunks.push(...chunker.push(readBuffer));
    }
    chunks.push(...chunker.finish());
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it("returns nothing for an empty stream and can be reused after finish()", () => {
    const chunker = new Chunker(gear, small);
    expect(chunker.push(new Uint8Array(0))).toEqual([]);
    expect(chunker.finish()).toEqual([]);
    const data = pseudoRandomBytes(3, 3000);
    const first = [...chunker.push(data), ...chunker.finish()].map(
      (c) => c.length,
    );
    expect(first).toEqual(chunkBuffer(gear, small, data));
  });

  it("resynchronises after a one-byte insertion at 10 MiB: only the chunk around it changes", () => {
    const at = 10 * MiB;
    const edited = new Uint8Array(golden.length + 1);
    edited.set(golden.subarray(0, at), 0);
    edited[at] = 0x42;
    edited.set(golden.subarray(at), at + 1);
    const before = describeChunks(
      chunkBuffer(gear, DEFAULT_CHUNKER_PARAMS, golden),
      golden,
    );
    const after = describeChunks(
      chunkBuffer(gear, DEFAULT_CHUNKER_PARAMS, edited),
      edited,
    );
    const beforeHashes = new Set(before.map((c) => c.sha256));
    const changed = after.filter((c) => !beforeHashes.has(c.sha256));
    expect(changed.length).toBeGreaterThanOrEqual(1);
    expect(changed.length).toBeLessThanOrEqual(2);
    for (const chunk of changed) {
      expect(chunk.offset).toBeLessThanOrEqual(at);
      expect(chunk.offset + chunk.length).toBeGreaterThan(
        at - DEFAULT_CHUNKER_PARAMS.maxSize,
      );
    }
    expect(after.length - changed.length).toBeGreaterThanOrEqual(
      before.length - 2,
    );
  });

  it("cuts the same data differently under two different keys", () => {
    const other = gearTableFromKey(new Uint8Array(32).fill(0xff));
    const data = golden.subarray(0, 16 * MiB);
    const mine = chunkBuffer(gear, DEFAULT_CHUNKER_PARAMS, data);
    const theirs = chunkBuffer(other, DEFAULT_CHUNKER_PARAMS, data);
    expect(theirs).not.toEqual(mine);
    const cuts = (lengths: number[]): Set<number> => {
      let offset = 0;
      return new Set(lengths.slice(0, -1).map((length) => (offset += length)));
    };
    const shared = [...cuts(mine)].filter((cut) => cuts(theirs).has(cut));
    expect(shared).toEqual([]);
  });
});

describe("Chunker with a caller that reuses its read buffer", () => {
  it("returns chunks that stay intact after the caller overwrites a Buffer it pushed", () => {
    const data = Buffer.from(pseudoRandomBytes(3, 4 * 1024 * 1024));
    const chunker = new Chunker(gear, {
      minSize: 1024,
      avgSize: 4096,
      maxSize: 16384,
    });
    const readBuffer = Buffer.alloc(256 * 1024);
    const kept: { chunk: Uint8Array; copy: Buffer }[] = [];
    for (let offset = 0; offset < data.length; offset += readBuffer.length) {
      data.copy(readBuffer, 0, offset, offset + readBuffer.length);
      for (const chunk of chunker.push(readBuffer))
        kept.push({ chunk, copy: Buffer.from(chunk) });
    }
    readBuffer.fill(0xee);
    for (const { chunk, copy } of kept) expect(copy.equals(chunk)).toBe(true);
  });
});

describe("Chunker.pushViews()", () => {
  /** Copies each call's views before the next call, as a caller must; reuses one read buffer. */
  function chunkViewsInPieces(
    data: Uint8Array,
    pieceLengths: readonly number[],
  ): { chunks: Buffer[]; intactAtReturn: boolean } {
    const chunker = new Chunker(gear, small);
    const readBuffer = new Uint8Array(2000);
    const chunks: Buffer[] = [];
    let intactAtReturn = true;
    let offset = 0;
    const take = (views: Uint8Array[], expectedStart: number): void => {
      // Every view of one call must still hold its bytes when the call returns, including a
      // chunk completed in the carry buffer when the same call keeps bytes after it.
      let at = expectedStart;
      for (const view of views) {
        const copy = Buffer.from(view);
        if (!copy.equals(data.subarray(at, at + copy.length)))
          intactAtReturn = false;
        at += copy.length;
        chunks.push(copy);
      }
    };
    let chunked = 0;
    const feed = (length: number): void => {
      const piece = data.subarray(offset, offset + length);
      readBuffer.set(piece);
      const views = chunker.pushViews(readBuffer.subarray(0, piece.length));
      take(views, chunked);
      chunked += views.reduce((sum, view) => sum + view.length, 0);
      offset += piece.length;
      readBuffer.fill(0xee);
    };
    for (const length of pieceLengths) {
      if (offset >= data.length) break;
      feed(length);
    }
    while (offset < data.length) feed(readBuffer.length);
    take(chunker.finishViews(), chunked);
    return { chunks, intactAtReturn };
  }

  it("gives the bytes and cut points of push(), whatever the split, with the read buffer reused", () => {
    fc.assert(
      fc.property(...smallSplitInputs, (seed, length, pieces) => {
        const data = pseudoRandomBytes(seed, length);
        const { chunks, intactAtReturn } = chunkViewsInPieces(data, pieces);
        expect(intactAtReturn).toBe(true);
        expect(chunks.map((c) => c.length)).toEqual(
          chunkBuffer(gear, small, data),
        );
        expect(Buffer.concat(chunks).equals(data)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe("Chunker.cutWhole()", () => {
  it("cuts a whole buffer as push() and finish() do, every chunk a view of the buffer", () => {
    for (const scanner of [undefined, null] as const)
      fc.assert(
        fc.property(
          fc.integer(),
          fc.integer({ min: 0, max: 6000 }),
          (seed, length) => {
            const data = pseudoRandomBytes(seed, length);
            const chunker =
              scanner === null
                ? new Chunker(gear, small, null)
                : new Chunker(gear, small);
            const views = chunker.cutWhole(data);
            expect(views.map((view) => view.length)).toEqual(
              chunkBuffer(gear, small, data),
            );
            let at = 0;
            for (const view of views) {
              // A view of the caller's buffer, at its place in it: nothing was copied.
              expect(view.buffer).toBe(data.buffer);
              expect(view.byteOffset).toBe(data.byteOffset + at);
              at += view.length;
            }
            expect(at).toBe(data.length);
            // Left fresh: the same buffer again cuts the same way.
            expect(chunker.cutWhole(data).map((view) => view.length)).toEqual(
              views.map((view) => view.length),
            );
          },
        ),
        { numRuns: 200 },
      );
  });

  it("cuts 4 MiB of seeded data at the default sizes as push() does", () => {
    const data = pseudoRandomBytes(7, 4 * MiB + 12_345);
    const views = new Chunker(gear).cutWhole(data);
    expect(views.map((view) => view.length)).toEqual(
      chunkBuffer(gear, DEFAULT_CHUNKER_PARAMS, data),
    );
  });

  it("refuses to continue a stream that push() started", () => {
    const chunker = new Chunker(gear, small);
    chunker.pushViews(pseudoRandomBytes(1, 10));
    expect(() => chunker.cutWhole(pseudoRandomBytes(2, 100))).toThrow(
      RangeError,
    );
  });
});
