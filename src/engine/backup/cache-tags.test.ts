import { execFileSync } from "node:child_process";
import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isValidCacheTag } from "./cache-tags.js";
import { ExcludeMatcher } from "./excludes.js";
import { Prewalk } from "./prewalk.js";

const SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55";

let work: string;
beforeEach(async () => {
  work = await fsp.mkdtemp(join(tmpdir(), "blindsync-cache-tags-"));
});
afterEach(async () => {
  await fsp.rm(work, { recursive: true, force: true });
});

const path = (name: string): Buffer => Buffer.from(join(work, name));

describe("isValidCacheTag()", () => {
  it("accepts a file that begins with the signature, whatever follows", async () => {
    await fsp.writeFile(join(work, "exact"), SIGNATURE);
    await fsp.writeFile(join(work, "more"), `${SIGNATURE}\n# by some tool\n`);
    expect(isValidCacheTag(path("exact"))).toBe(true);
    expect(isValidCacheTag(path("more"))).toBe(true);
  });

  it("refuses another signature, a short file, a directory, a symlink, a FIFO and nothing", async () => {
    await fsp.writeFile(join(work, "other"), SIGNATURE.replace(/5$/, "6"));
    await fsp.writeFile(join(work, "short"), SIGNATURE.slice(0, -1));
    await fsp.writeFile(join(work, "lower"), SIGNATURE.toLowerCase());
    await fsp.mkdir(join(work, "dir"));
    await fsp.writeFile(join(work, "real"), SIGNATURE);
    await fsp.symlink(join(work, "real"), join(work, "link"));
    execFileSync("mkfifo", [join(work, "fifo")]);
    for (const name of [
      "other",
      "short",
      "lower",
      "dir",
      "link",
      "fifo",
      "missing",
    ])
      expect(isValidCacheTag(path(name)), name).toBe(false);
  });
});

/** An lstat() as the rules read it, of a directory or of an empty file on one device. */
const entry = (isDirectory: boolean) => ({
  isDirectory: () => isDirectory,
  isFile: () => !isDirectory,
  size: 0n,
  dev: 1n,
});
const DIR = entry(true);
const FILE = entry(false);

describe("ExcludeMatcher.withCacheTag()", () => {
  it("excludes everything below the tagged directory but the tag, and nothing beside it", () => {
    const matcher = ExcludeMatcher.fromPatterns([], {
      excludeCaches: true,
    }).withCacheTag("a/cache");
    expect(matcher.excludes("a/cache", DIR)).toBe(false);
    expect(matcher.excludes("a/cache/CACHEDIR.TAG", FILE)).toBe(false);
    expect(matcher.excludes("a/cache/data.bin", FILE)).toBe(true);
    expect(matcher.excludes("a/cache/sub", DIR)).toBe(true);
    expect(matcher.excludes("a/cache/sub/CACHEDIR.TAG", FILE)).toBe(true);
    expect(matcher.excludes("a/cache-other/x", FILE)).toBe(false);
    expect(matcher.excludes("a/x", FILE)).toBe(false);
  });

  it("a tagged source root keeps only its tag", () => {
    const matcher = ExcludeMatcher.fromPatterns([]).withCacheTag("");
    expect(matcher.excludes("CACHEDIR.TAG", FILE)).toBe(false);
    expect(matcher.excludes("x", FILE)).toBe(true);
    expect(matcher.excludes("d", DIR)).toBe(true);
  });

  it("keeps the patterns' exclusions, and .blindsyncignore rules keep the tagged directories", () => {
    const matcher = ExcludeMatcher.fromPatterns(["*.log"], {
      excludeCaches: true,
    })
      .withCacheTag("c")
      .withIgnoreFile("d", "secret\n");
    expect(matcher.excludes("x.log", FILE)).toBe(true);
    expect(matcher.excludes("c/y", FILE)).toBe(true);
    expect(matcher.excludes("d/secret", FILE)).toBe(true);
    expect(matcher.excludes("d/open", FILE)).toBe(false);
  });
});

describe("Prewalk with excludeCaches", () => {
  it("lists no directory inside a tagged one, and all of them without the option", async () => {
    for (const dir of ["src/cache/deep", "src/plain/deep"])
      await fsp.mkdir(join(work, dir), { recursive: true });
    await fsp.writeFile(join(work, "src/cache/CACHEDIR.TAG"), SIGNATURE);
    const source = join(work, "src");
    const skipping = Prewalk.start([source], [], undefined, {
      excludeCaches: true,
    });
    await skipping.settled;
    expect(skipping.take(path("src/plain/deep"))).toHaveProperty("ends");
    expect(skipping.take(path("src/cache"))).toHaveProperty("ends");
    expect(skipping.take(path("src/cache/deep"))).toBeUndefined();
    const all = Prewalk.start([source], []);
    await all.settled;
    expect(all.take(path("src/cache/deep"))).toHaveProperty("ends");
  });
});
