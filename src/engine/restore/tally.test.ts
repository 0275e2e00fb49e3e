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

  it("makes a file's shown path only for a sink that lists items", () => {
    let made = 0;
    const show = (): string => {
      made++;
      return "a.txt";
    };
    const quiet = new Tally(
      { progress: () => undefined, warn: () => undefined },
      {},
    );
    quiet.fileWritten(1, "create", show);
    quiet.fileKept(show);
    expect(made).toBe(0);
    expect(quiet.result).toMatchObject({ files: 2, written: 1 });

    const listed: string[] = [];
    const verbose = new Tally(
      {
        progress: () => undefined,
        warn: () => undefined,
        item: (action, path) => listed.push(`${action} ${path}`),
      },
      {},
    );
    verbose.fileWritten(1, "overwrite", show);
    verbose.fileKept("b.txt");
    expect(listed).toEqual(["overwrite a.txt", "unchanged b.txt"]);
    expect(made).toBe(1);
  });
});
