import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  combineSources,
  parseSize,
  readFilesFrom,
} from "./backup-selection.js";

describe("parseSize()", () => {
  it.each([
    ["0", 0],
    ["500", 500],
    ["500b", 500],
    ["10K", 10 * 1024],
    ["10k", 10 * 1024],
    ["10M", 10 * 1024 ** 2],
    ["10MiB", 10 * 1024 ** 2],
    ["10MB", 10 * 1024 ** 2],
    ["1.5G", 1.5 * 1024 ** 3],
    ["2T", 2 * 1024 ** 4],
    [" 7 k ", 7 * 1024],
  ])("%j is %d bytes", (text, bytes) => {
    expect(parseSize(text, "--exclude-larger-than")).toBe(bytes);
  });

  it.each(["", "ten", "10X", "-1M", "1M2", "1,5G", "10 MiBs"])(
    "%j is a usage error naming the flag",
    (text) => {
      expect(() => parseSize(text, "--exclude-larger-than")).toThrow(
        expect.objectContaining({
          kind: "usage",
          message: `--exclude-larger-than "${text}" is not a size`,
        }),
      );
    },
  );
});

describe("readFilesFrom() and combineSources()", () => {
  it("reads one path per line, skipping blank lines and # comments, trimming spaces", () => {
    const dir = mkdtempSync(join(tmpdir(), "blindsync-files-from-"));
    try {
      const list = join(dir, "list.txt");
      writeFileSync(
        list,
        "# what to keep\n/etc/hosts\n\n  docs/notes  \r\n#old\n",
      );
      expect(readFilesFrom([list, "-"], () => "a\n# b\n")).toEqual([
        "/etc/hosts",
        "docs/notes",
        "a",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a list that cannot be read is a usage error", () => {
    expect(() => readFilesFrom(["/nonexistent/list.txt"])).toThrow(
      expect.objectContaining({
        kind: "usage",
        message: expect.stringMatching(
          /^Cannot read --files-from "\/nonexistent\/list.txt": /,
        ) as unknown,
      }),
    );
  });

  it("keeps each path once, the command line's first", () => {
    expect(
      combineSources(
        ["docs", "/tmp/a"],
        [resolve("docs"), "/tmp/b", "/tmp/a/"],
      ),
    ).toEqual(["docs", "/tmp/a", "/tmp/b"]);
  });
});
