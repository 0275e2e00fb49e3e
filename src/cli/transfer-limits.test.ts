import { describe, expect, it } from "vitest";
import { parseRate } from "./transfer-limits.js";

describe("parseRate()", () => {
  it.each([
    ["1", 1],
    ["512", 512],
    ["1000000", 1_000_000],
  ])("takes %j as %i KiB/s", (text, rate) => {
    expect(parseRate("--limit-upload", text)).toBe(rate);
  });

  it.each(["0", "-5", "1.5", "fast", "", "1e3", "10000000000"])(
    "refuses %j as a usage error with an example",
    (text) => {
      expect(() => parseRate("--limit-download", text)).toThrow(
        expect.objectContaining({
          kind: "usage",
          message: `--limit-download "${text}" is not a rate in KiB/s`,
          hint: "Give a whole number of KiB per second, e.g. --limit-download 512",
        }),
      );
    },
  );
});
