import { describe, expect, it } from "vitest";
import { decodeLockAttempt, encodeJson } from "./control.js";

describe("decodeLockAttempt", () => {
  it("reads a server's grant with the lease it granted", () => {
    expect(
      decodeLockAttempt(
        encodeJson({ acquired: true, id: "ab", leaseMs: 300_000 }),
        86_400_000,
      ),
    ).toEqual({ acquired: true, id: "ab", leaseMs: 300_000 });
  });

  it("reads an older server's answers, without a granted lease or a count, dropping holders' ids", () => {
    expect(
      decodeLockAttempt(encodeJson({ acquired: true, id: "ab" }), 60_000),
    ).toEqual({ acquired: true, id: "ab", leaseMs: 60_000 });
    const holder = { exclusive: true, owner: "prune", expiresAt: 5 };
    expect(
      decodeLockAttempt(
        encodeJson({ acquired: false, holders: [{ id: "cd", ...holder }] }),
        60_000,
      ),
    ).toEqual({ acquired: false, holders: [holder], more: 0 });
  });

  it("refuses a lease that is not a whole number", () => {
    expect(() =>
      decodeLockAttempt(
        encodeJson({ acquired: true, id: "ab", leaseMs: "long" }),
        60_000,
      ),
    ).toThrow(/bad "leaseMs"/);
  });
});
