import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  BUSY_AFTER,
  MAX_OVER_READ,
  PackReadAhead,
  READ_ALONE_BYTES,
  WINDOW_BYTES_KEPT,
  type PackRegion,
} from "./read-ahead.js";

/** Packs of small blobs laid end to end, and every read the read-ahead asks of storage. */
function packsOf(count: number, blobsPerPack: number, blobSize = 10_000) {
  const packs = new Map<string, { bytes: Uint8Array; blobs: PackRegion[] }>();
  for (let p = 0; p < count; p++) {
    const pack = `pack${p}`;
    const blobs: PackRegion[] = [];
    for (let b = 0; b < blobsPerPack; b++)
      blobs.push({ pack, offset: b * blobSize, length: blobSize });
    packs.set(pack, { bytes: randomBytes(blobsPerPack * blobSize), blobs });
  }
  const reads: PackRegion[] = [];
  let failWindows = false;
  const source = {
    read(region: PackRegion): Promise<Uint8Array> {
      reads.push(region);
      const pack = packs.get(region.pack);
      if (pack === undefined) return Promise.reject(new Error("no such pack"));
      if (failWindows && region.length > blobSize)
        return Promise.reject(new Error("cut short"));
      return Promise.resolve(
        pack.bytes.slice(region.offset, region.offset + region.length),
      );
    },
    extents(pack: string, low: number, high: number) {
      return (packs.get(pack)?.blobs ?? []).filter(
        (blob) => blob.offset >= low && blob.offset + blob.length <= high,
      );
    },
  };
  const expected = (region: PackRegion): Uint8Array =>
    (packs.get(region.pack) as { bytes: Uint8Array }).bytes.subarray(
      region.offset,
      region.offset + region.length,
    );
  return {
    packs,
    reads,
    source,
    expected,
    failWindows: () => (failWindows = true),
  };
}

/** Byte equality without vitest's element-by-element diff (slow on 600 blobs). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe("PackReadAhead", () => {
  it("answers every blob of busy packs exactly, asked in random order and at once, in a few reads", async () => {
    const { packs, reads, source, expected } = packsOf(3, 200);
    const readAhead = new PackReadAhead(source);
    const blobs = shuffled([...packs.values()].flatMap((pack) => pack.blobs));
    const answers = await Promise.all(
      blobs.map((blob) => readAhead.read(blob)),
    );
    for (const [i, blob] of blobs.entries())
      expect(same(answers[i] as Uint8Array, expected(blob))).toBe(true);
    // Each pack: a few blobs alone before it counts as busy, then one window for the rest.
    expect(reads.length).toBeLessThanOrEqual(3 * (BUSY_AFTER + 1));
    expect(reads.length).toBeLessThan(blobs.length / 10);
  });

  it("reads a lone blob alone, and a blob asked for again from its window", async () => {
    const { packs, reads, source, expected } = packsOf(1, 100);
    const readAhead = new PackReadAhead(source);
    const blob = (packs.get("pack0") as { blobs: PackRegion[] }).blobs[40];
    const bytes = await readAhead.read(blob as PackRegion);
    expect(reads).toEqual([blob]);
    expect(same(bytes, expected(blob as PackRegion))).toBe(true);
  });

  it("reads on from a sequential blob, never past the blobs the index knows", async () => {
    const { packs, reads, source } = packsOf(1, 100);
    const readAhead = new PackReadAhead(source);
    const blobs = (packs.get("pack0") as { blobs: PackRegion[] }).blobs;
    for (const blob of blobs) await readAhead.read(blob);
    // The first alone, the second opens a window that holds the rest.
    expect(reads.length).toBe(2);
    const window = reads[1] as PackRegion;
    expect(window.offset).toBe(10_000);
    expect(window.offset + window.length).toBe(100 * 10_000);
  });

  it("reads a large blob alone, however busy its pack", async () => {
    const { reads, source } = packsOf(1, 100);
    const readAhead = new PackReadAhead(source);
    const large = { pack: "pack0", offset: 0, length: READ_ALONE_BYTES };
    for (let i = 0; i < 5; i++) await readAhead.read(large);
    expect(reads).toEqual(Array.from({ length: 5 }, () => large));
  });

  it("stops a window at a large blob either way, which is read alone once", async () => {
    // small ×5, large, small ×10, large, small ×5: laid end to end.
    const sizes = [
      ...Array<number>(5).fill(10_000),
      READ_ALONE_BYTES,
      ...Array<number>(10).fill(10_000),
      READ_ALONE_BYTES,
      ...Array<number>(5).fill(10_000),
    ];
    const blobs: PackRegion[] = [];
    let at = 0;
    for (const length of sizes) {
      blobs.push({ pack: "p", offset: at, length });
      at += length;
    }
    const bytes = new Uint8Array(randomBytes(at));
    const reads: PackRegion[] = [];
    const readAhead = new PackReadAhead({
      read: (region) => {
        reads.push(region);
        return Promise.resolve(
          bytes.slice(region.offset, region.offset + region.length),
        );
      },
      extents: (_pack, low, high) =>
        blobs.filter(
          (blob) => blob.offset >= low && blob.offset + blob.length <= high,
        ),
    });
    // The small blobs between the two large ones, asked out of order, then the large ones.
    for (const b of [8, 12, 7, 10, 14, 6, 9, 11, 13, 15, 5, 16])
      expect(
        same(
          await readAhead.read(blobs[b] as PackRegion),
          bytes.subarray(
            (blobs[b] as PackRegion).offset,
            (blobs[b] as PackRegion).offset + (blobs[b] as PackRegion).length,
          ),
        ),
      ).toBe(true);
    const first = blobs[6] as PackRegion;
    const last = blobs[15] as PackRegion;
    // Three asked alone, then one window over blobs 6-15 (the small run), and the large two.
    expect(reads.filter((region) => region.length > 10_000)).toEqual([
      {
        pack: "p",
        offset: first.offset,
        length: last.offset + last.length - first.offset,
      },
      blobs[5],
      blobs[16],
    ]);
  });

  it("reads at most MAX_OVER_READ times the bytes asked for (plus the kept windows), whatever the order", async () => {
    // 24 packs of 3 MB, every blob asked for once in random order: windows are evicted before
    // most of their blobs are asked for.
    const blobSize = 10_000;
    const { packs, reads, source } = packsOf(24, 300, blobSize);
    const readAhead = new PackReadAhead(source);
    const blobs = shuffled([...packs.values()].flatMap((pack) => pack.blobs));
    for (let i = 0; i < blobs.length; i += 8)
      await Promise.all(
        blobs.slice(i, i + 8).map((blob) => readAhead.read(blob)),
      );
    const asked = blobs.length * blobSize;
    const read = reads.reduce((sum, region) => sum + region.length, 0);
    expect(read).toBeLessThanOrEqual(MAX_OVER_READ * asked + WINDOW_BYTES_KEPT);
    // Unbounded, this read 17 GB for the 72 MB asked for.
    expect(MAX_OVER_READ).toBeLessThanOrEqual(2);
    // Windows still opened: it is a bound, not an end to reading ahead.
    expect(reads.some((region) => region.length > blobSize)).toBe(true);
  });

  it("falls back to the blob alone when a window fails to read", async () => {
    const { packs, reads, source, expected, failWindows } = packsOf(1, 100);
    failWindows();
    const readAhead = new PackReadAhead(source);
    const blobs = (packs.get("pack0") as { blobs: PackRegion[] }).blobs;
    for (const blob of shuffled(blobs))
      expect(same(await readAhead.read(blob), expected(blob))).toBe(true);
    expect(reads.some((region) => region.length > 10_000)).toBe(true);
  });

  it("an error reading the blob alone reaches the caller", async () => {
    const { source } = packsOf(1, 10);
    const readAhead = new PackReadAhead(source);
    await expect(
      readAhead.read({ pack: "gone", offset: 0, length: 10 }),
    ).rejects.toThrow("no such pack");
  });

  it("keeps at most WINDOW_BYTES_KEPT of windows: packs asked again are read again", async () => {
    const blobSize = 100_000;
    const perPack = 40; // 4 MB a pack
    const packCount = Math.ceil((2 * WINDOW_BYTES_KEPT) / (perPack * blobSize));
    const { packs, reads, source } = packsOf(packCount, perPack, blobSize);
    const readAhead = new PackReadAhead(source);
    const all = [...packs.values()];
    for (let round = 0; round < 2; round++)
      for (const pack of all)
        for (const blob of shuffled(pack.blobs)) await readAhead.read(blob);
    const windowBytes = reads
      .filter((region) => region.length > blobSize)
      .reduce((sum, region) => sum + region.length, 0);
    // Twice the kept bytes went by, so the second round cannot have been held whole.
    expect(windowBytes).toBeGreaterThan(all.length * perPack * blobSize);
  });
});
