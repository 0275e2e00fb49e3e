import { scrypt, scryptSync } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { native } from "../util/native.js";
import { isBlindsyncError } from "../errors.js";
import { toHex } from "../util/bytes.js";
import {
  DEFAULT_SCRYPT,
  MAX_SCRYPT_WORK,
  checkScryptParams,
  deriveFromPassphrase,
  scryptThrough,
  scryptWithMix,
  type ScryptInput,
  type ScryptMix,
  type ScryptParams,
} from "./kdf.js";

function nodeScrypt(
  password: string,
  salt: string,
  N: number,
  r: number,
  p: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    scrypt(
      password,
      salt,
      64,
      { N, r, p, maxmem: 64 * 1024 * 1024 },
      (error, key) => {
        if (error) reject(error);
        else resolve(key.toString("hex"));
      },
    );
  });
}

const salt32 = new Uint8Array(32).fill(0x5a);
const fast: ScryptParams = { logN: 15, r: 1, p: 1, salt: salt32 };

describe("scrypt", () => {
  // RFC 7914 section 12; these costs are below our bounds, so node's scrypt is called directly.
  it("node's scrypt matches RFC 7914 with N = 16", async () => {
    expect(await nodeScrypt("", "", 16, 1, 1)).toBe(
      "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442" +
        "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906",
    );
  });

  it("node's scrypt matches RFC 7914 with N = 1024", async () => {
    expect(await nodeScrypt("password", "NaCl", 1024, 8, 16)).toBe(
      "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162" +
        "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
    );
  });

  it("deriveFromPassphrase() equals scrypt with the same parameters and yields 32 bytes", async () => {
    const passphrase = new TextEncoder().encode("correct horse");
    const key = await deriveFromPassphrase(passphrase, fast);
    expect(key.byteLength).toBe(32);
    const expected = await new Promise<string>((resolve, reject) => {
      scrypt(passphrase, salt32, 32, { N: 2 ** 15, r: 1, p: 1 }, (error, k) => {
        if (error) reject(error);
        else resolve(k.toString("hex"));
      });
    });
    expect(toHex(key)).toBe(expected);
  });

  it("deriveFromPassphrase() runs the default cost (r = 8) within its maxmem", async () => {
    const key = await deriveFromPassphrase(new Uint8Array(0), {
      ...fast,
      r: 8,
    });
    expect(key.byteLength).toBe(32);
  });

  it.each([
    ["logN 10", { ...fast, logN: 10 }],
    ["logN 30", { ...fast, logN: 30 }],
    ["a 31-byte salt", { ...fast, salt: new Uint8Array(31) }],
    ["r 0", { ...fast, r: 0 }],
    ["r 33", { ...fast, r: 33 }],
    ["p 17", { ...fast, p: 17 }],
    ["a fractional logN", { ...fast, logN: 15.5 }],
    // Each field alone within the old bounds, 512 times the old default's work together.
    ["logN 20, r 32, p 16", { ...fast, logN: 20, r: 32, p: 16 }],
    ["logN 19 (four times the old default)", { ...fast, logN: 19, r: 8 }],
    [
      "logN 18, r 8, p 2 (N·r·p over the ceiling)",
      { ...fast, logN: 18, r: 8, p: 2 },
    ],
  ])(
    "checkScryptParams() rejects %s as a rollback before running the KDF",
    async (_, params) => {
      let caught: unknown;
      try {
        checkScryptParams(params);
      } catch (error) {
        caught = error;
      }
      expect(isBlindsyncError(caught, "rollback")).toBe(true);
      expect((caught as Error).message).toMatch(
        /^Key slot has out-of-bounds KDF parameters/,
      );
      // A logN-30 KDF would need 128 GiB; the check refuses before any allocation.
      await expect(
        deriveFromPassphrase(new Uint8Array(0), params),
      ).rejects.toThrow(/out-of-bounds/);
    },
  );

  it("checkScryptParams() accepts the edges of its bounds, the default and the old default", () => {
    expect(() => {
      checkScryptParams({ logN: 15, r: 1, p: 1, salt: salt32 });
      checkScryptParams({ ...DEFAULT_SCRYPT, salt: salt32 });
      checkScryptParams({ logN: 17, r: 8, p: 1, salt: salt32 });
      checkScryptParams({ logN: 18, r: 8, p: 1, salt: salt32 });
      checkScryptParams({ logN: 15, r: 16, p: 4, salt: salt32 });
    }).not.toThrow();
    expect(2 ** 17 * 8 * 1 * 2).toBe(MAX_SCRYPT_WORK);
  });
});

describe("scryptWithMix(): scrypt with its ROMix in the native addon", () => {
  // The addon itself, not scryptKey, which would hide a wrong addon behind node's scrypt.
  const addonScrypt = (input: ScryptInput): Promise<Uint8Array> => {
    const mix = native?.scryptMix;
    if (mix === undefined) throw new Error("no addon");
    return scryptWithMix(mix, input);
  };
  const hex = async (
    password: string,
    salt: string,
    logN: number,
    r: number,
    p: number,
  ): Promise<string> =>
    Buffer.from(
      await addonScrypt({
        passphrase: new TextEncoder().encode(password),
        salt: new TextEncoder().encode(salt),
        logN,
        r,
        p,
        length: 64,
      }),
    ).toString("hex");

  it("runs in the addon that npm ci builds", () => {
    expect(typeof native?.scryptMix).toBe("function");
  });

  it("matches RFC 7914's test vectors", async () => {
    expect(await hex("", "", 4, 1, 1)).toBe(
      "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442" +
        "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906",
    );
    expect(await hex("password", "NaCl", 10, 8, 16)).toBe(
      "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162" +
        "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
    );
    expect(await hex("pleaseletmein", "SodiumChloride", 14, 8, 1)).toBe(
      "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2" +
        "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887",
    );
  });

  it("equals node's scrypt byte for byte over many parameter sets", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.integer({ min: 1, max: 11 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 3 }),
        async (password, salt, logN, r, p) => {
          const expected = scryptSync(password, salt, 32, {
            N: 2 ** logN,
            r,
            p,
            maxmem: 256 * 1024 * 1024,
          });
          const actual = await addonScrypt({
            passphrase: password,
            salt,
            logN,
            r,
            p,
            length: 32,
          });
          expect(Buffer.from(actual).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("the addon refuses a block of the wrong size or parameters out of its range", () => {
    const mix = native?.scryptMix;
    if (mix === undefined) throw new Error("no addon");
    expect(() => mix(Buffer.alloc(100), 4, 1, 1)).toThrow(TypeError);
    expect(() => mix(Buffer.alloc(128), 0, 1, 1)).toThrow(TypeError);
    expect(() => mix(Buffer.alloc(128 * 65), 4, 65, 1)).toThrow(TypeError);
  });
});

describe("scryptThrough(): the addon's ROMix only where it agrees with node's", () => {
  const realMix = native?.scryptMix;
  const input: ScryptInput = {
    passphrase: new TextEncoder().encode("correct horse"),
    salt: salt32,
    logN: 15,
    r: 8,
    p: 1,
    length: 32,
  };
  let reference: Buffer | undefined;
  const expected = (): Buffer =>
    (reference ??= scryptSync(input.passphrase, input.salt, 32, {
      N: 2 ** input.logN,
      r: input.r,
      p: input.p,
      maxmem: 64 * 1024 * 1024,
    }));
  /** The addon's mix with a record of the logN of every call, and a fault of the test's. */
  const recording = (
    fault: (mixed: Buffer, logN: number) => Buffer,
  ): { mix: ScryptMix; calls: number[] } => {
    if (realMix === undefined) throw new Error("no addon");
    const calls: number[] = [];
    const mix: ScryptMix = async (b, logN, r, p) => {
      calls.push(logN);
      return fault(await realMix(b, logN, r, p), logN);
    };
    return { mix, calls };
  };

  it("without the addon it is node's scrypt", async () => {
    const key = await scryptThrough(undefined)(input);
    expect(Buffer.from(key).equals(expected())).toBe(true);
  });

  it("checks the addon once per r and p, at N = 16, then uses it", async () => {
    const { mix, calls } = recording((mixed) => mixed);
    const scryptOf = scryptThrough(mix);
    const key = await scryptOf(input);
    await scryptOf(input);
    await scryptOf({ ...input, r: 4 });
    expect(Buffer.from(key).equals(expected())).toBe(true);
    expect(calls).toEqual([4, 15, 15, 4, 15]);
  });

  it("a ROMix that gives a wrong result is never trusted: the key is node's", async () => {
    // A miscompiled addon cannot be made for real: one flipped bit stands in for it.
    const { mix, calls } = recording((mixed) => {
      mixed[0] = (mixed[0] ?? 0) ^ 1;
      return mixed;
    });
    const key = await scryptThrough(mix)(input);
    expect(Buffer.from(key).equals(expected())).toBe(true);
    expect(calls).toEqual([4]);
  });

  it("a ROMix that fails (no memory to map) falls back to node's scrypt", async () => {
    const { mix, calls } = recording((mixed, logN) => {
      if (logN > 4) throw new Error("scryptMix: out of memory");
      return mixed;
    });
    const key = await scryptThrough(mix)(input);
    expect(Buffer.from(key).equals(expected())).toBe(true);
    expect(calls).toEqual([4, 15]);
  });
});
