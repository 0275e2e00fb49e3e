import { lstatSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exactFileTimes, setFileTimes } from "./file-times.js";

describe("setFileTimes()", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "blindsync-times-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("uses the native addon that npm ci builds", () => {
    expect(exactFileTimes).toBe(true);
  });

  it("sets an mtime to the exact nanosecond", async () => {
    const file = join(dir, "f");
    writeFileSync(file, "x");
    await setFileTimes(file, 1_700_000_000_123_456_789n);
    expect(lstatSync(file, { bigint: true }).mtimeNs).toBe(
      1_700_000_000_123_456_789n,
    );
  });

  it("sets a symlink's own time without touching its target", async () => {
    const target = join(dir, "target");
    const link = join(dir, "link");
    writeFileSync(target, "x");
    symlinkSync(target, link);
    await setFileTimes(target, 1_000_000_000_000_000_000n);
    await setFileTimes(link, 1_200_000_000_000_000_001n, true);
    expect(lstatSync(link, { bigint: true }).mtimeNs).toBe(
      1_200_000_000_000_000_001n,
    );
    expect(lstatSync(target, { bigint: true }).mtimeNs).toBe(
      1_000_000_000_000_000_000n,
    );
  });

  it("handles times before 1970", async () => {
    const file = join(dir, "old");
    writeFileSync(file, "x");
    await setFileTimes(file, -1_500_000_001n);
    expect(lstatSync(file, { bigint: true }).mtimeNs).toBe(-1_500_000_001n);
  });

  it("reports a missing file with its errno code", async () => {
    await expect(setFileTimes(join(dir, "missing"), 0n)).rejects.toMatchObject({
      code: "ENOENT",
    });
  });
});
