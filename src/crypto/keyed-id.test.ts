import { describe, expect, it } from "vitest";
import { fromHex, toHex } from "../util/bytes.js";
import { createSha256, keyedId, sha256 } from "./keyed-id.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

// RFC 4231, HMAC-SHA-256 outputs (case 5 tests truncation, which keyedId never does).
const rfc4231 = [
  {
    name: "1",
    key: new Uint8Array(20).fill(0x0b),
    data: text("Hi There"),
    mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
  },
  {
    name: "2 (key shorter than the output)",
    key: text("Jefe"),
    data: text("what do ya want for nothing?"),
    mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  },
  {
    name: "3 (combined key and data longer than 64 bytes)",
    key: new Uint8Array(20).fill(0xaa),
    data: new Uint8Array(50).fill(0xdd),
    mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
  },
  {
    name: "4",
    key: fromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
    data: new Uint8Array(50).fill(0xcd),
    mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
  },
  {
    name: "6 (key larger than the block size)",
    key: new Uint8Array(131).fill(0xaa),
    data: text("Test Using Larger Than Block-Size Key - Hash Key First"),
    mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  },
  {
    name: "7 (key and data larger than the block size)",
    key: new Uint8Array(131).fill(0xaa),
    data: text(
      "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
    ),
    mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
  },
];

describe("keyedId()", () => {
  it.each(rfc4231)("matches RFC 4231 test case $name", ({ key, data, mac }) => {
    expect(toHex(keyedId(key, data))).toBe(mac);
  });
});

describe("sha256()", () => {
  it("hashes the empty input and FIPS 180-2's 'abc'", () => {
    expect(toHex(sha256(new Uint8Array(0)))).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    expect(toHex(sha256(text("abc")))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("gives the same digest incrementally as in one piece", () => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => i * 7);
    const digest = createSha256()
      .update(data.subarray(0, 1))
      .update(data.subarray(1, 500))
      .update(data.subarray(500))
      .digest();
    expect(digest).toEqual(sha256(data));
  });
});
