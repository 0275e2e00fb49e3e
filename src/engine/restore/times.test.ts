import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { exactFileTimes } from "../../util/file-times.js";
import { restoredMtimeNs, setTimes, utimesSeconds } from "./times.js";

let dir: string;

beforeEach(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), "blindsync-times-"));
});

afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe("restore times", () => {
  it("utimesSeconds() makes fs.utimes land on the exact microsecond (the fallback)", async () => {
    const probe = join(dir, "probe");
    await fsp.writeFile(probe, "");
    for (const ns of [
      0n,
      1n,
      999n,
      1000n,
      1_700_000_000_123_456_000n,
      1_700_000_000_999_999_999n,
      4_000_000_000_000_001_000n,
    ]) {
      const seconds = utimesSeconds(ns);
      await fsp.utimes(probe, seconds, seconds);
      expect((await fsp.stat(probe, { bigint: true })).mtimeNs).toBe(
        ns - (ns % 1000n),
      );
    }
    expect(utimesSeconds(-5_000_000_000n)).toBe(0);
    expect(restoredMtimeNs(123n)).toBe(exactFileTimes ? 123n : 0n);
  });

  it("setTimes() sets a symlink's own mtime, leaving its target's alone, to what restoredMtimeNs() predicts", async () => {
    const victim = join(dir, "victim");
    const link = join(dir, "link");
    await fsp.writeFile(victim, "x");
    await fsp.symlink("victim", link);
    const victimBefore = (await fsp.stat(victim, { bigint: true })).mtimeNs;
    const mtimeNs = 1_600_000_000_987_654_321n;
    setTimes(Buffer.from(link), mtimeNs);
    expect((await fsp.lstat(link, { bigint: true })).mtimeNs).toBe(
      restoredMtimeNs(mtimeNs),
    );
    expect((await fsp.stat(victim, { bigint: true })).mtimeNs).toBe(
      victimBefore,
    );
  });
});
