import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BlindsyncError } from "../../errors.js";
import { concatBytes } from "../../util/bytes.js";
import type { IndexAuthenticator } from "../store.js";
import { contentId } from "./layout.js";
import { decodeSegment, encodeSegment, type Segment } from "./segment.js";
import {
  FOOTER_LENGTH,
  buildPack,
  parsePackTail,
  tailLength,
} from "./trailer.js";

function authenticator(key = "index key"): IndexAuthenticator {
  return { mac: (bytes) => createHmac("sha256", key).update(bytes).digest() };
}

const auth = authenticator();
const blobs = [0, 1, 300, 7].map((length) => ({
  id: new Uint8Array(randomBytes(32)),
  bytes: new Uint8Array(randomBytes(length)),
}));

function integrity(action: () => unknown): void {
  expect(action).toThrow(BlindsyncError);
  try {
    action();
  } catch (error) {
    expect((error as BlindsyncError).kind).toBe("integrity");
  }
}

describe("pack trailer", () => {
  const built = buildPack("tree", blobs, auth);
  const pack = { ...built, bytes: concatBytes(built.parts) };

  it("holds the blobs' own bytes, not copies, then one tail", () => {
    expect(built.parts).toHaveLength(blobs.length + 1);
    for (const [index, blob] of blobs.entries())
      expect(built.parts[index]).toBe(blob.bytes);
    expect(built.size).toBe(pack.bytes.length);
  });

  it("round trips: the tail names every blob where its bytes are, and the id is the pack's SHA-256", () => {
    expect(pack.id).toBe(contentId(pack.bytes));
    const parsed = parsePackTail(pack.bytes, pack.bytes.length, auth, "pack");
    expect(parsed.kind).toBe("tree");
    expect(parsed.regionLength).toBe(308);
    expect(parsed.entries.map((entry) => entry.id)).toEqual(
      blobs.map((blob) => blob.id),
    );
    for (const [index, entry] of parsed.entries.entries())
      expect(
        pack.bytes.slice(entry.offset, entry.offset + entry.length),
      ).toEqual(blobs[index]!.bytes);
  });

  it("is found from the footer alone, and a tail of exactly that length parses", () => {
    const footer = pack.bytes.subarray(pack.bytes.length - FOOTER_LENGTH);
    const tail = tailLength(footer, pack.bytes.length, "pack");
    const parsed = parsePackTail(
      pack.bytes.subarray(pack.bytes.length - tail),
      pack.bytes.length,
      auth,
      "pack",
    );
    expect(parsed.entries).toHaveLength(4);
  });

  it("refuses every flipped bit of its trailer and footer, a truncation, and another key", () => {
    const region = 308;
    for (let at = region; at < pack.bytes.length; at++) {
      const flipped = pack.bytes.slice();
      flipped[at]! ^= 0x10;
      integrity(() => parsePackTail(flipped, flipped.length, auth, "pack"));
    }
    const cut = pack.bytes.slice(0, -1);
    integrity(() => parsePackTail(cut, cut.length, auth, "pack"));
    const short = pack.bytes.slice(1);
    integrity(() => parsePackTail(short, short.length, auth, "pack"));
    integrity(() =>
      parsePackTail(pack.bytes, pack.bytes.length + 1, auth, "pack"),
    );
    integrity(() =>
      parsePackTail(
        pack.bytes,
        pack.bytes.length,
        authenticator("other"),
        "pack",
      ),
    );
  });
});

describe("index segment", () => {
  const segment: Segment = {
    packs: [
      { id: "ab".repeat(32), kind: "data", regionLength: 1000 },
      { id: "cd".repeat(32), kind: "tree", regionLength: 50 },
    ],
    entries: [
      { id: new Uint8Array(32).fill(1), pack: 0, offset: 0, length: 1000 },
      { id: new Uint8Array(32).fill(2), pack: 1, offset: 10, length: 40 },
    ],
    supersedes: ["ef".repeat(32)],
    tombstones: [{ id: new Uint8Array(32).fill(3), pack: 1 }],
  };

  it("round trips, and is named by its SHA-256", () => {
    const { id, bytes } = encodeSegment(segment, auth);
    expect(id).toBe(contentId(bytes));
    expect(decodeSegment(bytes, auth, "segment")).toEqual(segment);
  });

  it("refuses every flipped bit, a truncation, swapped entries and another key", () => {
    const { bytes } = encodeSegment(segment, auth);
    for (let at = 0; at < bytes.length; at++) {
      const flipped = bytes.slice();
      flipped[at]! ^= 0x01;
      integrity(() => decodeSegment(flipped, auth, "segment"));
    }
    integrity(() => decodeSegment(bytes.slice(0, -1), auth, "segment"));
    const swapped = bytes.slice();
    const first = 24 + 2 * 41;
    swapped.set(bytes.subarray(first + 48, first + 96), first);
    swapped.set(bytes.subarray(first, first + 48), first + 48);
    integrity(() => decodeSegment(swapped, auth, "segment"));
    const forged = encodeSegment(
      segment,
      authenticator("storage's guess"),
    ).bytes;
    integrity(() => decodeSegment(forged, auth, "segment"));
  });

  it("the writer refuses an entry that names no pack", () => {
    expect(() =>
      encodeSegment(
        { ...segment, entries: [{ ...segment.entries[0]!, pack: 2 }] },
        auth,
      ),
    ).toThrow(RangeError);
  });
});
