import { describe, expect, it } from "vitest";
import { toHex } from "../util/bytes.js";
import { hkdfSha256 } from "./hkdf.js";
import { SealingSession, sessionKey, sessionNonce } from "./session.js";

const encKey = new Uint8Array(32).fill(0x42);

describe("SealingSession", () => {
  it("draws a fresh random 24-byte session id each time", () => {
    const a = new SealingSession();
    const b = new SealingSession();
    expect(a.sessionId.byteLength).toBe(24);
    expect(toHex(a.sessionId)).not.toBe(toHex(b.sessionId));
  });

  it("derives its key with HKDF(encKey, salt = sessionId, 'blindsync/v1/session-key')", () => {
    const session = new SealingSession();
    const expected = hkdfSha256(
      encKey,
      session.sessionId,
      "blindsync/v1/session-key",
      32,
    );
    expect(session.keyFor(encKey)).toEqual(expected);
    expect(session.keyFor(encKey)).toBe(session.keyFor(encKey));
    expect(sessionKey(encKey, session.sessionId)).toEqual(expected);
  });

  it("re-derives its key when used with another encryption key", () => {
    const session = new SealingSession();
    const other = new Uint8Array(32).fill(0x43);
    expect(session.keyFor(other)).toEqual(sessionKey(other, session.sessionId));
    expect(session.keyFor(encKey)).toEqual(
      sessionKey(encKey, session.sessionId),
    );
  });

  it("counts from zero and never hands out a counter twice", () => {
    const session = new SealingSession();
    expect([
      session.nextCounter(),
      session.nextCounter(),
      session.nextCounter(),
    ]).toEqual([0n, 1n, 2n]);
  });

  it("becomes exhausted at its seal limit and then refuses to count", () => {
    const session = new SealingSession({ sealLimit: 2n });
    session.nextCounter();
    expect(session.exhausted).toBe(false);
    session.nextCounter();
    expect(session.exhausted).toBe(true);
    expect(() => session.nextCounter()).toThrow(/exhausted/);
  });

  it("refuses a seal limit above 2^32 and a session id of the wrong size", () => {
    expect(() => new SealingSession({ sealLimit: 2n ** 32n + 1n })).toThrow(
      RangeError,
    );
    expect(() => new SealingSession({ sessionId: new Uint8Array(23) })).toThrow(
      RangeError,
    );
  });
});

describe("sessionNonce()", () => {
  it("is 4 zero bytes followed by the counter as u64 big-endian", () => {
    expect(toHex(sessionNonce(0n))).toBe("000000000000000000000000");
    expect(toHex(sessionNonce(0x0102030405060708n))).toBe(
      "000000000102030405060708",
    );
    expect(toHex(sessionNonce(2n ** 32n - 1n))).toBe(
      "0000000000000000ffffffff",
    );
  });
});
