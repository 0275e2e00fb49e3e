import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ExcludeMatcher } from "./excludes.js";

const stat = (path: string) => lstatSync(path, { bigint: true });

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "blindsync-excludes-"));
});
afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("ExcludeMatcher: --exclude-larger-than", () => {
  it("skips regular files above the size, never directories or symlinks", () => {
    writeFileSync(join(work, "ten"), "x".repeat(10));
    writeFileSync(join(work, "eleven"), "x".repeat(11));
    mkdirSync(join(work, "dir"));
    for (let index = 0; index < 20; index++)
      writeFileSync(join(work, "dir", `entry-with-a-long-name-${index}`), "");
    symlinkSync(`/${"long/".repeat(10)}target`, join(work, "link"));
    const matcher = ExcludeMatcher.fromPatterns([], { excludeLargerThan: 10 });
    expect(matcher.excludes("ten", stat(join(work, "ten")))).toBe(false);
    expect(matcher.excludes("eleven", stat(join(work, "eleven")))).toBe(true);
    expect(stat(join(work, "dir")).size).toBeGreaterThan(10n);
    expect(matcher.excludes("dir", stat(join(work, "dir")))).toBe(false);
    expect(matcher.excludes("link", stat(join(work, "link")))).toBe(false);
    const all = ExcludeMatcher.fromPatterns([]);
    expect(all.excludes("eleven", stat(join(work, "eleven")))).toBe(false);
  });
});

describe("ExcludeMatcher: --one-file-system", () => {
  // /proc is its own file system wherever Linux runs; the source here is on the root's.
  const root = stat("/");
  const proc = stat("/proc");

  it.skipIf(root.dev === proc.dev)(
    "keeps a mount point as a directory, skips all below it, and any non-directory of another device",
    () => {
      const matcher = ExcludeMatcher.fromPatterns([], {
        oneFileSystem: true,
      }).forSource(root);
      expect(matcher.excludes("proc", proc)).toBe(false);
      const below = matcher.forDirectory("proc", proc);
      expect(below.excludes("proc/version", stat("/proc/version"))).toBe(true);
      expect(below.excludes("proc/self", stat("/proc/self"))).toBe(true);
      // Elsewhere the walk goes on; a file of another device there is one mounted over a file.
      expect(below.excludes("etc", stat("/etc"))).toBe(false);
      expect(matcher.excludes("version", stat("/proc/version"))).toBe(true);
    },
  );

  it("changes nothing on the source's own device, or without the flag", () => {
    mkdirSync(join(work, "sub"));
    writeFileSync(join(work, "sub", "file"), "x");
    const matcher = ExcludeMatcher.fromPatterns([], {
      oneFileSystem: true,
    }).forSource(stat(work));
    const sub = matcher.forDirectory("sub", stat(join(work, "sub")));
    expect(sub).toBe(matcher);
    expect(sub.excludes("sub/file", stat(join(work, "sub", "file")))).toBe(
      false,
    );
    const crossing = ExcludeMatcher.fromPatterns([]).forSource(root);
    expect(crossing.forDirectory("proc", proc)).toBe(crossing);
    expect(crossing.excludes("proc/version", stat("/proc/version"))).toBe(
      false,
    );
  });
});
