import { describe, expect, it } from "vitest";
import { Tally } from "./tally.js";
import type { RestoreProgress } from "./types.js";

describe("Tally", () => {
  it("tells the sink of progress a few times a second, not once per file, and report() gives the last numbers", () => {
    const heard: RestoreProgress[] = [];
    const tally = new Tally(
      { progress: (progress) => heard.push(progress), warn: () => undefined },
      { totalFiles: 5000 },
    );
    for (let file = 0; file < 5000; file++) {
      tally.bytesWritten(10);
      tally.fileWritten(10, "create", `f${file}`);
    }
    // 10,000 events in well under a second: the first is heard, then one per 50 ms at most.
    expect(heard.length).toBeGreaterThanOrEqual(1);
    expect(heard.length).toBeLessThan(100);
    tally.report();
    expect(heard.at(-1)).toEqual({
      files: 5000,
      bytes: 50_000,
      totalFiles: 5000,
    });
    expect(tally.result.files).toBe(5000);
  });
});
