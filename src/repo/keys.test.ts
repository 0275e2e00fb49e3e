import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hkdfSha256, keyedId } from "../crypto/index.js";
import { isBlindsyncError } from "../errors.js";
import { toHex } from "../util/bytes.js";
import {
  MAX_KDF_RUNS_PER_UNLOCK,
  classifyKeySlots,
  createKeySlot,
  deriveSubkeys,
  keyCheckValue,
  keySlotLength,
  openKeySlot,
  parseKeySlot,
  planUnlock,
} from "./keys.js";

const master = Uint8Array.from({ length: 32 }, (_, i) => i);
const repositoryId = new Uint8Array(32).fill(0xab);
const otherRepositoryId = new Uint8Array(32).fill(0xac);
const passphrase = new TextEncoder().encode("correct horse battery staple");
// Low cost in tests only: logN 15 is the lowest the bounds allow.
const fast = { logN: 15, r: 1, p: 1 } as const;

async function caught(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  return undefined;
}

function caughtSync(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("deriveSubkeys()", () => {
  it("derives each subkey as HKDF(master, repositoryId, 'blindsync/v1/<purpose>')", () => {
    const keys = deriveSubkeys(master, repositoryId);
    const expected = (purpose: string): Uint8Array =>
      hkdfSha256(master, repositoryId, `blindsync/v1/${purpose}`, 32);
    expect(keys).toEqual({
      encKey: expected("enc"),
      idKey: expected("id"),
      chunkerKey: expected("chunker"),
      configKey: expected("config"),
      headKey: expected("head"),
    });
    expect(new Set(Object.values(keys).map(toHex)).size).toBe(5);
  });

  it("gives unrelated keys for the same master in another repository", () => {
    const a = deriveSubkeys(master, repositoryId);
    const b = deriveSubkeys(master, otherRepositoryId);
    expect(toHex(a.idKey)).not.toBe(toHex(b.idKey));
    expect(toHex(a.encKey)).not.toBe(toHex(b.encKey));
  });

  it("refuses a master or repository id of the wrong size", () => {
    expect(() => deriveSubkeys(new Uint8Array(31), repositoryId)).toThrow(
      RangeError,
    );
    expect(() => deriveSubkeys(master, new Uint8Array(16))).toThrow(RangeError);
  });
});

describe("keyCheckValue()", () => {
  it("is HMAC(headKey, 'blindsync key check') and differs between masters", () => {
    const keys = deriveSubkeys(master, repositoryId);
    expect(keyCheckValue(keys)).toEqual(
      keyedId(keys.headKey, new TextEncoder().encode("blindsync key check")),
    );
    expect(keyCheckValue(keys)).toHaveLength(32);
    const other = deriveSubkeys(new Uint8Array(32), repositoryId);
    expect(toHex(keyCheckValue(other))).not.toBe(toHex(keyCheckValue(keys)));
  });
});

describe("key slots", () => {
  it("openKeySlot() returns the master that createKeySlot() wrapped", async () => {
    const slot = await createKeySlot(passphrase, master, repositoryId, fast);
    expect(slot).toHaveLength(keySlotLength);
    expect(await openKeySlot(passphrase, slot, repositoryId)).toEqual(master);
  });

  it("lays a slot out as magic, version, kdf, logN, r, p, salt, nonce, wrapped master", async () => {
    const salt = new Uint8Array(32).fill(0x77);
    const slot = await createKeySlot(passphrase, master, repositoryId, {
      logN: 16,
      r: 2,
      p: 3,
      salt,
    });
    expect(keySlotLength).toBe(101);
    expect([...slot.subarray(0, 9)]).toEqual([
      0x42, 0x53, 0x4b, 0x53, 1, 1, 16, 2, 3,
    ]);
    expect(slot.subarray(9, 41)).toEqual(salt);
    expect(parseKeySlot(slot).params).toEqual({ logN: 16, r: 2, p: 3, salt });
  });

  it("draws a fresh salt and nonce for every slot", async () => {
    const a = await createKeySlot(passphrase, master, repositoryId, fast);
    const b = await createKeySlot(passphrase, master, repositoryId, fast);
    expect(toHex(a.subarray(9, 41))).not.toBe(toHex(b.subarray(9, 41)));
    expect(toHex(a.subarray(41, 53))).not.toBe(toHex(b.subarray(41, 53)));
  });

  it("openKeySlot() returns undefined for another passphrase", async () => {
    const slot = await createKeySlot(passphrase, master, repositoryId, fast);
    expect(
      await openKeySlot(
        new TextEncoder().encode("Tr0ub4dor&3"),
        slot,
        repositoryId,
      ),
    ).toBeUndefined();
  });

  it("openKeySlot() returns undefined for a slot copied from another repository", async () => {
    const slot = await createKeySlot(passphrase, master, repositoryId, fast);
    expect(
      await openKeySlot(passphrase, slot, otherRepositoryId),
    ).toBeUndefined();
  });

  it("openKeySlot() never releases a master from a slot with any byte changed", async () => {
    const slot = await createKeySlot(passphrase, master, repositoryId, fast);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: keySlotLength - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (at, xor) => {
          const tampered = new Uint8Array(slot);
          tampered[at]! ^= xor;
          const error = await caught(async () => {
            expect(
              await openKeySlot(passphrase, tampered, repositoryId),
            ).toBeUndefined();
          });
          if (error !== undefined)
            expect(
              isBlindsyncError(error, "integrity") ||
                isBlindsyncError(error, "rollback"),
            ).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("openKeySlot() detects KDF parameters lowered within bounds (the AAD binds them)", async () => {
    const slot = await createKeySlot(passphrase, master, repositoryId, {
      ...fast,
      r: 2,
    });
    const lowered = new Uint8Array(slot);
    lowered[7] = 1;
    expect(
      await openKeySlot(passphrase, lowered, repositoryId),
    ).toBeUndefined();
  });

  it.each([
    ["logN 10", 6, 10],
    ["logN 30", 6, 30],
    ["r 0", 7, 0],
    ["p 200", 8, 200],
  ])(
    "parseKeySlot() rejects %s as a rollback before any KDF runs",
    async (_, at, value) => {
      const slot = await createKeySlot(passphrase, master, repositoryId, fast);
      slot[at] = value;
      expect(
        isBlindsyncError(
          caughtSync(() => parseKeySlot(slot)),
          "rollback",
        ),
      ).toBe(true);
      const started = performance.now();
      const error = await caught(() =>
        openKeySlot(passphrase, slot, repositoryId),
      );
      expect(isBlindsyncError(error, "rollback")).toBe(true);
      expect((error as Error).message).toMatch(/out-of-bounds KDF parameters/);
      // logN 30 would need 128 GiB and minutes; refusing takes no time.
      expect(performance.now() - started).toBeLessThan(50);
    },
  );

  it.each([
    ["one byte short", (s: Uint8Array) => s.subarray(0, s.length - 1)],
    ["one byte long", (s: Uint8Array) => new Uint8Array([...s, 0])],
    ["empty", () => new Uint8Array(0)],
    [
      "a bad magic",
      (s: Uint8Array) =>
        new Uint8Array([0x42, 0x53, 0x4b, 0x54, ...s.subarray(4)]),
    ],
    [
      "version 2",
      (s: Uint8Array) =>
        new Uint8Array([...s.subarray(0, 4), 2, ...s.subarray(5)]),
    ],
    [
      "an unknown KDF",
      (s: Uint8Array) =>
        new Uint8Array([...s.subarray(0, 5), 2, ...s.subarray(6)]),
    ],
  ])(
    "parseKeySlot() rejects a slot that is %s as an integrity error",
    async (_, mangle) => {
      const slot = await createKeySlot(passphrase, master, repositoryId, fast);
      const error = caughtSync(() => parseKeySlot(mangle(slot)));
      expect(isBlindsyncError(error, "integrity")).toBe(true);
    },
  );

  it("createKeySlot() refuses out-of-bounds parameters and wrong-sized inputs", async () => {
    await expect(
      createKeySlot(passphrase, master, repositoryId, { logN: 12, r: 1, p: 1 }),
    ).rejects.toThrow(/out-of-bounds/);
    await expect(
      createKeySlot(passphrase, new Uint8Array(16), repositoryId, fast),
    ).rejects.toThrow(RangeError);
  });
});

describe("classifyKeySlots() and planUnlock()", () => {
  it("classifyKeySlots() sets aside only slots that cannot be key slots, and keeps another passphrase's", async () => {
    const mine = await createKeySlot(passphrase, master, repositoryId, fast);
    const theirs = await createKeySlot(
      new TextEncoder().encode("someone else"),
      new Uint8Array(32).fill(7),
      repositoryId,
      fast,
    );
    const outOfBounds = new Uint8Array(mine);
    outOfBounds[6] = 30;
    const { readable, unreadable } = classifyKeySlots([
      { name: "a", bytes: new Uint8Array(200) },
      { name: "b", bytes: outOfBounds },
      { name: "c", bytes: theirs },
      { name: "d", bytes: mine },
    ]);
    expect(readable.map((slot) => slot.name)).toStrictEqual(["c", "d"]);
    expect(
      unreadable.map((slot) => [slot.name, slot.error.kind]),
    ).toStrictEqual([
      ["a", "integrity"],
      ["b", "rollback"],
    ]);
    expect(unreadable[0]?.reason).toMatch(/malformed/);
  });

  it("planUnlock() tries the named slot, then the remembered one, then name order, up to the budget", () => {
    const slot = (name: string) => ({
      name,
      bytes: new TextEncoder().encode(name),
    });
    const slots = ["a", "b", "c", "d", "e", "f"].map(slot);
    const plain = planUnlock(slots);
    expect(plain.tryOrder.map((s) => s.name)).toStrictEqual(
      ["a", "b", "c", "d", "e", "f"].slice(0, MAX_KDF_RUNS_PER_UNLOCK),
    );
    expect(plain.untried).toStrictEqual(
      ["a", "b", "c", "d", "e", "f"].slice(MAX_KDF_RUNS_PER_UNLOCK),
    );
    const remembered = planUnlock(slots, { bytes: slot("f").bytes }, 2);
    expect(remembered.tryOrder.map((s) => s.name)).toStrictEqual(["f", "a"]);
    expect(remembered.untried).toStrictEqual(["b", "c", "d", "e"]);
    const named = planUnlock(slots, { bytes: slot("f").bytes, name: "e" }, 2);
    expect(named.tryOrder.map((s) => s.name)).toStrictEqual(["e", "f"]);
  });
});
