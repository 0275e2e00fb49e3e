import {
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  combineSources,
  followSource,
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

describe("followSource()", () => {
  const dir = mkdtempSync(join(tmpdir(), "blindsync-follow-"));
  mkdirSync(join(dir, "real"));
  writeFileSync(join(dir, "file"), "x");
  symlinkSync("real", join(dir, "link"));
  symlinkSync("file", join(dir, "file-link"));
  symlinkSync("missing", join(dir, "dangling"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("follows a symlink to a directory written with a trailing slash (rsync's rule)", () => {
    expect(followSource(join(dir, "link") + "/")).toEqual({
      path: realpathSync(join(dir, "real")),
    });
    expect(followSource(join(dir, "link") + "/.")).toEqual({
      path: realpathSync(join(dir, "real")),
    });
  });

  it("keeps the link itself without the slash, with a note saying how to follow it", () => {
    const link = join(dir, "link");
    const followed = followSource(link);
    expect(followed.path).toBe(link);
    expect(followed.note).toContain(`write "${link}/"`);
  });

  it.each(["real", "real/", "file", "file-link", "dangling", "nonexistent"])(
    "leaves %j as it is, with no note",
    (name) => {
      const source = join(dir, name);
      expect(followSource(source)).toEqual({ path: source });
    },
  );
});
