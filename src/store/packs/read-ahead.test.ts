import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  GAP_BYTES,
  HELD_BYTES,
  MAX_EXPECTED,
  PackReadAhead,
  STALE_BEHIND,
  type PackRegion,
} from "./read-ahead.js";

interface Blob extends PackRegion {
  readonly id: Uint8Array;
}

/**
 * Packs laid out from `sizes` (one list of blob sizes per pack, end to end), the blobs' ids
 * (their index, in 32 bytes), and every read the read-ahead asks of storage.
 */
function packsOf(sizes: readonly (readonly number[])[]) {
  const packs = new Map<string, Uint8Array>();
  const blobs: Blob[] = [];
  const byId = new Map<string, Blob>();
  for (const [p, lengths] of sizes.entries()) {
    const pack = `pack${p}`;
    let offset = 0;
    for (const length of lengths) {
      const id = new Uint8Array(32);
      new DataView(id.buffer).setUint32(0, blobs.length);
      const blob = { pack, offset, length, id };
      blobs.push(blob);
      byId.set(Buffer.from(id).toString("hex"), blob);
      offset += length;
    }
    packs.set(pack, new Uint8Array(randomBytes(offset)));
  }
  const reads: PackRegion[] = [];
  let failWindows = false;
  let shortReads = false;
  const source = {
    read(region: PackRegion): Promise<Uint8Array> {
      reads.push(region);
      const pack = packs.get(region.pack);
      if (pack === undefined) return Promise.reject(new Error("no such pack"));
      const isWindow = !blobs.some(
        (blob) =>
          blob.pack === region.pack &&
          blob.offset === region.offset &&
          blob.length === region.length,
      );
      if (failWindows && isWindow)
        return Promise.reject(new Error("cut short"));
      const end = region.offset + region.length - (shortReads ? 1 : 0);
      return Promise.resolve(pack.slice(region.offset, end));
    },
    extents(pack: string, low: number, high: number): PackRegion[] {
      return blobs
        .filter(
          (blob) =>
            blob.pack === pack &&
            blob.offset >= low &&
            blob.offset + blob.length <= high,
        )
        .map(regionOf);
    },
    locateMany(ids: readonly Uint8Array[]): (PackRegion | undefined)[] {
      return ids.map((id) => {
        const blob = byId.get(Buffer.from(id).toString("hex"));
        return (
          blob && { pack: blob.pack, offset: blob.offset, length: blob.length }
        );
      });
    },
  };
  const expected = (region: PackRegion): Uint8Array =>
    (packs.get(region.pack) as Uint8Array).subarray(
      region.offset,
      region.offset + region.length,
    );
  return {
    blobs,
    reads,
    source,
    expected,
    failWindows: () => (failWindows = true),
    shortReads: () => (shortReads = true),
  };
}

/** A region as get() asks for it (without the test's id). */
function regionOf(blob: Blob): PackRegion {
  return { pack: blob.pack, offset: blob.offset, length: blob.length };
}

/** Byte equality without vitest's element-by-element diff (slow on many blobs). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function bytesOf(reads: readonly PackRegion[]): number {
  return reads.reduce((sum, region) => sum + region.length, 0);
}

describe("PackReadAhead", () => {
  it("reads every expected blob of a pack in one request, asked in random order and at once", async () => {
    const { blobs, reads, source, expected } = packsOf([
      Array<number>(200).fill(10_000),
      Array<number>(200).fill(10_000),
      Array<number>(200).fill(10_000),
    ]);
    const readAhead = new PackReadAhead(source);
    readAhead.expect(blobs.map((blob) => blob.id));
    const asked = shuffled(blobs);
    const answers = await Promise.all(
      asked.map((blob) => readAhead.read(regionOf(blob))),
    );
    for (const [i, blob] of asked.entries())
      expect(same(answers[i] as Uint8Array, expected(blob))).toBe(true);
    expect(reads.length).toBe(3);
    expect(bytesOf(reads)).toBe(600 * 10_000);
    // Every blob asked for: nothing held, nothing remembered.
    expect(readAhead.heldBytes).toBe(0);
    expect(readAhead.expectedCount).toBe(0);
    expect(readAhead.expectedRegion(blobs[1]!.id)).toBeUndefined();
  });

  it("reads a blob nobody said to expect alone, beside expected blobs of its pack", async () => {
    const { blobs, reads, source, expected } = packsOf([
      Array<number>(100).fill(10_000),
    ]);
    const readAhead = new PackReadAhead(source);
    readAhead.expect(blobs.slice(0, 50).map((blob) => blob.id));
    const lone = blobs[70] as Blob;
    expect(same(await readAhead.read(regionOf(lone)), expected(lone))).toBe(
      true,
    );
    expect(reads).toEqual([regionOf(lone)]);
    expect(readAhead.heldBytes).toBe(0);
  });

  it("never reads an unexpected blob's bytes beyond the gap threshold", async () => {
    // Small and large blobs mixed; a random half of them expected.
    const sizes = Array.from({ length: 400 }, (_, i) =>
      i % 7 === 0 ? 300_000 : 1_000 + ((i * 7919) % 40_000),
    );
    const { blobs, reads, source, expected } = packsOf([sizes]);
    const wanted = new Set(shuffled(blobs).slice(0, 200));
    const readAhead = new PackReadAhead(source);
    readAhead.expect([...wanted].map((blob) => blob.id));
    for (const blob of shuffled([...wanted]))
      expect(same(await readAhead.read(regionOf(blob)), expected(blob))).toBe(
        true,
      );
    for (const region of reads) {
      const inside = blobs.filter(
        (blob) =>
          blob.offset >= region.offset &&
          blob.offset + blob.length <= region.offset + region.length,
      );
      // A read starts and ends on expected blobs, and each stretch of unexpected bytes in it is
      // at most GAP_BYTES.
      expect(wanted.has(inside[0] as Blob)).toBe(true);
      expect(wanted.has(inside.at(-1) as Blob)).toBe(true);
      let unexpected = 0;
      for (const blob of inside) {
        if (wanted.has(blob)) unexpected = 0;
        else unexpected += blob.length;
        expect(unexpected).toBeLessThanOrEqual(GAP_BYTES);
      }
    }
    const wantedBytes = bytesOf([...wanted]);
    expect(bytesOf(reads)).toBeLessThan(wantedBytes * 1.5);
    expect(reads.length).toBeLessThan(wanted.size / 2);
  });

  it("keeps the blobs of a bridged gap for the directory hinted next, and never reads a pack's bytes twice", async () => {
    // Two directories' files interleaved in one pack, as a backup seals them: even blobs are
    // the first directory's, odd ones the second's.
    const { blobs, reads, source, expected } = packsOf([
      Array<number>(20).fill(1_000),
    ]);
    const readAhead = new PackReadAhead(source);
    const even = blobs.filter((_, i) => i % 2 === 0);
    const odd = blobs.filter((_, i) => i % 2 === 1);
    readAhead.expect(even.map((blob) => blob.id));
    for (const blob of even)
      expect(same(await readAhead.read(regionOf(blob)), expected(blob))).toBe(
        true,
      );
    expect(reads).toEqual([{ pack: "pack0", offset: 0, length: 19_000 }]);
    readAhead.expect(odd.map((blob) => blob.id));
    for (const blob of odd)
      expect(same(await readAhead.read(regionOf(blob)), expected(blob))).toBe(
        true,
      );
    // Only the last blob lay beyond the first read.
    expect(reads.slice(1)).toEqual([regionOf(blobs[19] as Blob)]);
    expect(bytesOf(reads)).toBe(bytesOf(blobs));
    expect(readAhead.heldBytes).toBe(0);
  });

  it("holds at most HELD_BYTES of blobs not yet asked for, and lets each go as it is asked for", async () => {
    // Four packs of 20 MiB, all expected: one pack's blobs fit, two do not.
    const perPack = Array<number>(80).fill(256 * 1024);
    const { blobs, reads, source, expected } = packsOf([
      perPack,
      perPack,
      perPack,
      perPack,
    ]);
    const readAhead = new PackReadAhead(source);
    readAhead.expect(blobs.map((blob) => blob.id));
    let most = 0;
    for (const blob of blobs) {
      const bytes = await readAhead.read(regionOf(blob));
      expect(same(bytes, expected(blob))).toBe(true);
      most = Math.max(most, readAhead.heldBytes);
    }
    expect(most).toBeLessThanOrEqual(HELD_BYTES);
    expect(most).toBeGreaterThan(HELD_BYTES / 2);
    expect(readAhead.heldBytes).toBe(0);
    // Every byte read once, in a few requests.
    expect(bytesOf(reads)).toBe(bytesOf(blobs));
    expect(reads.length).toBeLessThan(blobs.length / 8);
  });

  it("answers a blob expected twice (two files, one content) twice from one read, each with its own copy", async () => {
    const { blobs, reads, source, expected } = packsOf([
      Array<number>(10).fill(1_000),
    ]);
    const readAhead = new PackReadAhead(source);
    const twice = blobs[3] as Blob;
    readAhead.expect([...blobs.map((blob) => blob.id), twice.id]);
    const [first, second] = await Promise.all([
      readAhead.read(regionOf(twice)),
      readAhead.read(regionOf(twice)),
    ]);
    expect(same(first, expected(twice))).toBe(true);
    expect(same(second, expected(twice))).toBe(true);
    expect(first.buffer).not.toBe(second.buffer);
    expect(reads.length).toBe(1);
  });

  it("tells where an expected blob lies until its last ask, so that a get need not ask the index again", async () => {
    const { blobs, source } = packsOf([Array<number>(10).fill(1_000)]);
    let lookups = 0;
    const counted = {
      ...source,
      locateMany: (ids: readonly Uint8Array[]) => (
        (lookups += ids.length),
        source.locateMany(ids)
      ),
    };
    const readAhead = new PackReadAhead(counted);
    const twice = blobs[3] as Blob;
    readAhead.expect([twice.id, blobs[4]!.id, twice.id]);
    expect(lookups).toBe(3);
    expect(readAhead.expectedRegion(twice.id)).toStrictEqual(regionOf(twice));
    expect(readAhead.expectedRegion(blobs[5]!.id)).toBeUndefined();
    await readAhead.read(readAhead.expectedRegion(twice.id)!);
    expect(readAhead.expectedRegion(twice.id)).toStrictEqual(regionOf(twice));
    await readAhead.read(readAhead.expectedRegion(twice.id)!);
    expect(readAhead.expectedRegion(twice.id)).toBeUndefined();
    expect(readAhead.expectedRegion(blobs[4]!.id)).toStrictEqual(
      regionOf(blobs[4]!),
    );
    expect(lookups).toBe(3);
  });

  it("forgets expected blobs the restore went past, and what it held of them", async () => {
    // pack0: 100 blobs expected, one asked for (which reads them all), the rest never asked.
    // pack1: STALE_BEHIND + 100 small blobs expected after them, all asked for.
    const { blobs, source } = packsOf([
      Array<number>(100).fill(1_000),
      Array<number>(STALE_BEHIND + 100).fill(10),
    ]);
    const readAhead = new PackReadAhead(source);
    readAhead.expect(blobs.map((blob) => blob.id));
    await readAhead.read(regionOf(blobs[0] as Blob));
    expect(readAhead.heldBytes).toBeGreaterThanOrEqual(99 * 1_000);
    for (const blob of blobs.slice(100)) await readAhead.read(regionOf(blob));
    expect(readAhead.heldBytes).toBe(0);
    expect(readAhead.expectedCount).toBe(0);
    expect(readAhead.expectedRegion(blobs[1]!.id)).toBeUndefined();
  });

  it("remembers at most MAX_EXPECTED blobs", () => {
    const { blobs, source } = packsOf([
      Array<number>(MAX_EXPECTED + 10).fill(10),
    ]);
    const readAhead = new PackReadAhead(source);
    readAhead.expect(blobs.map((blob) => blob.id));
    expect(readAhead.expectedCount).toBe(MAX_EXPECTED);
  });

  it("falls back to the blob alone when a window fails or comes back short", async () => {
    for (const damage of ["fail", "short"] as const) {
      const { blobs, reads, source, expected, failWindows, shortReads } =
        packsOf([Array<number>(50).fill(1_000)]);
      if (damage === "fail") failWindows();
      const readAhead = new PackReadAhead(source);
      readAhead.expect(blobs.map((blob) => blob.id));
      if (damage === "short") {
        // The window comes back a byte short: its last blob is read alone.
        shortReads();
        const last = blobs.at(-1) as Blob;
        await readAhead.read(regionOf(last));
        expect(reads).toHaveLength(2);
        expect(reads[1]).toEqual(regionOf(last));
        continue;
      }
      for (const blob of shuffled(blobs))
        expect(same(await readAhead.read(regionOf(blob)), expected(blob))).toBe(
          true,
        );
      expect(reads.some((region) => region.length > 1_000)).toBe(true);
      expect(readAhead.heldBytes).toBe(0);
    }
  });

  it("an error reading the blob alone reaches the caller", async () => {
    const { source } = packsOf([[10]]);
    const readAhead = new PackReadAhead(source);
    await expect(
      readAhead.read({ pack: "gone", offset: 0, length: 10 }),
    ).rejects.toThrow("no such pack");
  });
});
