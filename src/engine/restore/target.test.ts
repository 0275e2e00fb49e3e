import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { prepareTarget, Target } from "./target.js";

let base: string;

beforeEach(async () => {
  base = await fsp.realpath(
    await fsp.mkdtemp(join(tmpdir(), "blindsync-target-")),
  );
});

afterEach(async () => {
  await fsp.rm(base, { recursive: true, force: true });
});

describe("prepareTarget()", () => {
  it("creates a missing target with its parents and follows a symlink naming it, once", async () => {
    const real = await prepareTarget(join(base, "a", "b"));
    expect(real.toString()).toBe(join(base, "a", "b"));
    await fsp.symlink(join(base, "a"), join(base, "link"));
    expect((await prepareTarget(join(base, "link"))).toString()).toBe(
      join(base, "a"),
    );
  });

  it("fails with 'failed' naming the path when the target is a file", async () => {
    await fsp.writeFile(join(base, "file"), "");
    await expect(prepareTarget(join(base, "file"))).rejects.toMatchObject({
      kind: "failed",
      message: expect.stringContaining(join(base, "file")) as unknown,
    });
  });
});

describe("Target", () => {
  const target = new Target(Buffer.from("/restore/here"));

  it("shows paths relative to the target, escaped", () => {
    expect(target.show(Buffer.from("/restore/here"))).toBe(".");
    expect(target.show(Buffer.from("/restore/here/a/b\nc"))).toBe("a/b\\nc");
  });

  it("assertInside() accepts only paths strictly below the target", () => {
    expect(() => {
      target.assertInside(Buffer.from("/restore/here/x"));
    }).not.toThrow();
    for (const path of ["/restore/here", "/restore/hereafter", "/restore"]) {
      expect(() => {
        target.assertInside(Buffer.from(path));
      }).toThrow(/outside the restore target/);
    }
  });

  it("tempPath() gives a new hidden name in the directory each time, unlike another restore's", () => {
    const dir = Buffer.from("/restore/here/d");
    const names = new Set(
      Array.from({ length: 100 }, () => target.tempPath(dir).toString()),
    );
    expect(names.size).toBe(100);
    for (const name of names)
      expect(name).toMatch(
        /^\/restore\/here\/d\/\.blindsync-[0-9a-f]{16}-\d+\.tmp$/,
      );
    const other = new Target(Buffer.from("/restore/here"));
    expect(names.has(other.tempPath(dir).toString())).toBe(false);
  });
});
