import { describe, expect, it } from "vitest";
import { DEFAULT_SCRYPT, checkScryptParams } from "../crypto/index.js";
import { isBlindsyncError } from "../errors.js";
import { kdfCostFromEnv } from "./kdf-cost.js";

function errorOf(value: string): unknown {
  try {
    kdfCostFromEnv({ BLINDSYNC_KDF_LOGN: value });
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("kdfCostFromEnv(): BLINDSYNC_KDF_LOGN", () => {
  it("unset or empty leaves the default to the repository", () => {
    expect(kdfCostFromEnv({})).toBeUndefined();
    expect(kdfCostFromEnv({ BLINDSYNC_KDF_LOGN: "" })).toBeUndefined();
  });

  it("gives N = 2^value with the default's r and p, for every logN a slot may carry", () => {
    for (const logN of [15, 16, 17, 18]) {
      const cost = kdfCostFromEnv({ BLINDSYNC_KDF_LOGN: String(logN) });
      expect(cost).toEqual({ logN, r: DEFAULT_SCRYPT.r, p: DEFAULT_SCRYPT.p });
      // What it accepts, a key slot accepts: no value passes here and fails as a forged slot.
      expect(() => {
        checkScryptParams({ ...cost!, salt: new Uint8Array(32) });
      }).not.toThrow();
    }
  });

  it.each([
    ["below the bounds", "14"],
    ["above the work ceiling with r = 8", "19"],
    ["far above (128 GiB)", "30"],
    ["zero", "0"],
    ["negative", "-16"],
    ["fractional", "15.5"],
    ["not a number", "sixteen"],
    ["hexadecimal", "0x10"],
    ["with spaces", " 16"],
    ["an exponent", "1.6e1"],
  ])("refuses %s (%j) as a usage error naming the range", (_, value) => {
    const error = errorOf(value);
    expect(isBlindsyncError(error, "usage")).toBe(true);
    expect((error as Error).message).toBe(
      `BLINDSYNC_KDF_LOGN must be an integer from 15 to 18, not "${value}"`,
    );
    expect((error as { hint?: string }).hint).toMatch(
      /unset, new slots get 16 \(64 MiB\)/,
    );
  });
});
