import { describe, expect, it } from "vitest";
import { BlindsyncError } from "../../errors.js";
import {
  brokenProtocolError,
  lostConnectionError,
  remoteError,
} from "./client-errors.js";

describe("lostConnectionError()", () => {
  it.each([
    ["hello", "the server's hello"],
    [[], "nothing"],
    [["get() of ab"], "get() of ab"],
    [["a", "b", "c"], "a, b, c"],
    [["a", "b", "c", "d", "e"], "a, b, c and 2 more"],
  ] as const)("names what the client waited for: %j", (waiting, named) => {
    const error = lostConnectionError("ssh exited", waiting, undefined);
    expect(error.kind).toBe("transient");
    expect(error.message).toBe(
      `Lost the connection to the repository server while waiting for ${named}: ssh exited`,
    );
    expect(error.cause).toBeUndefined();
  });

  it("chains the cause it is given", () => {
    const cause = new Error("EPIPE");
    expect(lostConnectionError("writing failed", [], cause).cause).toBe(cause);
  });
});

describe("brokenProtocolError()", () => {
  it("says the server broke the protocol, with a version hint unless the error has its own", () => {
    const plain = brokenProtocolError(new RangeError("frame too long"));
    expect(plain.kind).toBe("protocol");
    expect(plain.message).toBe(
      "The repository server broke the protocol: frame too long",
    );
    expect(plain.hint).toBe(
      "Check that both sides run the same blindsync version",
    );
    const hinted = brokenProtocolError(
      new BlindsyncError("protocol", "old server", { hint: "Upgrade it" }),
    );
    expect(hinted.hint).toBe("Upgrade it");
  });
});

describe("remoteError()", () => {
  it("rebuilds the server's error with its kind, message and hint", () => {
    const error = remoteError({
      type: "error",
      requestId: 3,
      kind: "locked",
      message: "The repository is locked",
      hint: "Wait",
    });
    expect(error).toBeInstanceOf(BlindsyncError);
    expect([error.kind, error.message, error.hint]).toEqual([
      "locked",
      "The repository is locked",
      "Wait",
    ]);
    expect(
      remoteError({
        type: "error",
        requestId: 0,
        kind: "failed",
        message: "x",
        hint: undefined,
      }).hint,
    ).toBeUndefined();
  });
});
