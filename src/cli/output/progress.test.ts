import { describe, expect, it } from "vitest";
import { backupProgressLine, fitPath, formatClock } from "./progress.js";

const MiB = 1024 * 1024;

describe("backupProgressLine()", () => {
  it("shows elapsed, percent, files and bytes of the totals, rate, ETA and the file", () => {
    const line = backupProgressLine(
      {
        files: 5,
        bytes: 40 * MiB,
        current: "/home/me/photos/b.jpg",
        elapsedMs: 10_000,
        totals: { files: 20, bytes: 100 * MiB, complete: true },
      },
      200,
    );
    expect(line).toBe(
      "[0:10] 40%  5 / 20 files  40.0 MiB / 100.0 MiB  4.00 MiB/s  ETA 0:15  /home/me/photos/b.jpg",
    );
  });

  it("while the scan still counts, marks the totals with + and shows no percent or ETA", () => {
    const line = backupProgressLine(
      {
        files: 3,
        bytes: 2048,
        current: undefined,
        elapsedMs: 2000,
        totals: { files: 10, bytes: 4096, complete: false },
      },
      200,
    );
    expect(line).toBe(
      "[0:02]  3 / 10+ files  2.00 KiB / 4.00 KiB+  1.00 KiB/s",
    );
  });

  it("never shows a total below what is done, and counts without totals", () => {
    expect(
      backupProgressLine(
        {
          files: 12,
          bytes: 100,
          current: undefined,
          elapsedMs: 1000,
          totals: { files: 10, bytes: 50, complete: true },
        },
        200,
      ),
    ).toBe("[0:01] 100%  12 / 12 files  100 B / 100 B  100 B/s  ETA 0:00");
    expect(
      backupProgressLine(
        {
          files: 1,
          bytes: 0,
          current: undefined,
          elapsedMs: 0,
          totals: undefined,
        },
        200,
      ),
    ).toBe("[0:00]  1 file  0 B  0 B/s");
  });

  it("cuts the path from the left to fit the width, and drops it when there is no room", () => {
    const view = {
      files: 1,
      bytes: 0,
      current: `/very/long/${"directory/".repeat(20)}file.txt`,
      elapsedMs: 1000,
      totals: undefined,
    };
    const line = backupProgressLine(view, 60);
    expect(line.length).toBeLessThanOrEqual(60);
    expect(line).toMatch(/ {2}…[^ ]*\/file\.txt$/);
    expect(backupProgressLine(view, 30)).toBe("[0:01]  1 file  0 B  0 B/s");
  });
});

describe("formatClock() and fitPath()", () => {
  it.each([
    [0, "0:00"],
    [59.6, "1:00"],
    [61, "1:01"],
    [3600 + 62, "1:01:02"],
  ])("formatClock(%s) is %s", (seconds, text) => {
    expect(formatClock(seconds)).toBe(text);
  });

  it("fitPath() keeps a short path and the tail of a long one", () => {
    expect(fitPath("/a/b", 10)).toBe("/a/b");
    expect(fitPath("/abcdefghij/klm", 10)).toBe("…fghij/klm");
  });
});
