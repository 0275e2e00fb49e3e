import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isBlindsyncError } from "../errors.js";
import { fromHex, toHex } from "../util/bytes.js";
import { aeadOpen, aeadSeal } from "./aead.js";

const key15 = fromHex(
  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
);
const iv15 = fromHex("cafebabefacedbaddecaf888");
const plain15 =
  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const cipher15 =
  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13–16 (256-bit keys).
const vectors = [
  {
    name: "13 (empty plaintext)",
    key: new Uint8Array(32),
    iv: new Uint8Array(12),
    plaintext: "",
    aad: "",
    ciphertext: "",
    tag: "530f8afbc74536b9a963b4f1c4cb738b",
  },
  {
    name: "14 (one zero block)",
    key: new Uint8Array(32),
    iv: new Uint8Array(12),
    plaintext: "00000000000000000000000000000000",
    aad: "",
    ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
    tag: "d0d1c8a799996bf0265b98b5d48ab919",
  },
  {
    name: "15 (four blocks)",
    key: key15,
    iv: iv15,
    plaintext: plain15,
    aad: "",
    ciphertext: cipher15,
    tag: "b094dac5d93471bdec1a502270e3cc6c",
  },
  {
    name: "16 (partial block and AAD)",
    key: key15,
    iv: iv15,
    plaintext: plain15.slice(0, 120),
    aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    ciphertext: cipher15.slice(0, 120),
    tag: "76fc6ece0f4e1768cddf8853bb2d551b",
  },
];

function expectIntegrityError(run: () => unknown): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(isBlindsyncError(caught, "integrity")).toBe(true);
}

describe("aeadSeal() / aeadOpen()", () => {
  it.each(vectors)("match GCM test case $name", (v) => {
    const sealed = aeadSeal(v.key, v.iv, fromHex(v.plaintext), fromHex(v.aad));
    expect(toHex(sealed)).toBe(v.ciphertext + v.tag);
    expect(toHex(aeadOpen(v.key, v.iv, sealed, fromHex(v.aad)))).toBe(
      v.plaintext,
    );
  });

  it("aeadSeal() writes a prefix in front in a buffer of its own, and both directions round-trip any size", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 70_000 }),
        fc.uint8Array({ maxLength: 48 }),
        (plaintext, prefix) => {
          const key = new Uint8Array(32).fill(7);
          const nonce = new Uint8Array(12).fill(9);
          const aad = Uint8Array.of(1, 2, 3);
          const plain = aeadSeal(key, nonce, plaintext, aad);
          const framed = aeadSeal(key, nonce, plaintext, aad, prefix);
          expect(toHex(framed)).toBe(toHex(prefix) + toHex(plain));
          // Transferable to a worker without taking other data along.
          expect(framed.byteOffset).toBe(0);
          expect(framed.buffer.byteLength).toBe(framed.byteLength);
          const opened = aeadOpen(key, nonce, plain, aad);
          expect(toHex(opened)).toBe(toHex(plaintext));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("aeadSeal() of a plaintext in parts (empty ones, odd lengths) seals their concatenation", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }),
        fc.uint8Array({ maxLength: 48 }),
        (parts, prefix) => {
          const key = new Uint8Array(32).fill(5);
          const nonce = new Uint8Array(12).fill(3);
          const aad = Uint8Array.of(4, 5);
          const joined = Uint8Array.from(parts.flatMap((part) => [...part]));
          const inParts = aeadSeal(key, nonce, parts, aad, prefix);
          expect(toHex(inParts)).toBe(
            toHex(aeadSeal(key, nonce, joined, aad, prefix)),
          );
          expect(inParts.buffer.byteLength).toBe(inParts.byteLength);
        },
      ),
      { numRuns: 100 },
    );
    // A GCM test vector cut across its 16-byte blocks.
    const v = vectors[3] as (typeof vectors)[number];
    const plaintext = fromHex(v.plaintext);
    const cut = [
      plaintext.subarray(0, 5),
      plaintext.subarray(5, 37),
      plaintext.subarray(37),
    ];
    expect(toHex(aeadSeal(v.key, v.iv, cut, fromHex(v.aad)))).toBe(
      v.ciphertext + v.tag,
    );
  });

  it("aeadOpen() rejects input shorter than a tag as an integrity error", () => {
    expectIntegrityError(() =>
      aeadOpen(
        new Uint8Array(32),
        new Uint8Array(12),
        new Uint8Array(15),
        new Uint8Array(0),
      ),
    );
  });

  it("aeadOpen() rejects any flipped bit, in ciphertext, tag or AAD", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 100 }),
        fc.uint8Array({ minLength: 1, maxLength: 20 }),
        fc.nat(),
        fc.boolean(),
        (plaintext, aad, where, inAad) => {
          const key = new Uint8Array(32).fill(7);
          const nonce = new Uint8Array(12).fill(9);
          const sealed = aeadSeal(key, nonce, plaintext, aad);
          const target = inAad ? aad : sealed;
          const bit = where % (target.byteLength * 8);
          target[bit >> 3]! ^= 1 << (bit & 7);
          expectIntegrityError(() => aeadOpen(key, nonce, sealed, aad));
        },
      ),
    );
  });

  it("aeadOpen() rejects another key or nonce", () => {
    const key = new Uint8Array(32).fill(1);
    const nonce = new Uint8Array(12);
    const sealed = aeadSeal(key, nonce, new Uint8Array(10), new Uint8Array(0));
    expectIntegrityError(() =>
      aeadOpen(new Uint8Array(32).fill(2), nonce, sealed, new Uint8Array(0)),
    );
    expectIntegrityError(() =>
      aeadOpen(key, new Uint8Array(12).fill(1), sealed, new Uint8Array(0)),
    );
  });

  it("aeadSeal() refuses a key or nonce of the wrong size", () => {
    expect(() =>
      aeadSeal(
        new Uint8Array(16),
        new Uint8Array(12),
        new Uint8Array(0),
        new Uint8Array(0),
      ),
    ).toThrow(RangeError);
    expect(() =>
      aeadSeal(
        new Uint8Array(32),
        new Uint8Array(16),
        new Uint8Array(0),
        new Uint8Array(0),
      ),
    ).toThrow(RangeError);
  });
});
