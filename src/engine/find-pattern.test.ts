import { describe, expect, it } from "vitest";
import { PathPattern, PatternSet } from "./find-pattern.js";

const parts = (path: string): string[] => path.split("/");

describe("PathPattern", () => {
  const cases: [pattern: string, path: string, matches: boolean][] = [
    // Without a slash: the name, at any depth.
    ["*.txt", "a.txt", true],
    ["*.txt", "docs/deep/a.txt", true],
    ["*.txt", "a.txt.bak", false],
    ["a?c", "x/abc", true],
    ["a?c", "x/abbc", false],
    ["[ab]*", "beta", true],
    ["[!ab]*", "beta", false],
    ["[!ab]*", "gamma", true],
    ["[a-c]x", "bx", true],
    ["\\*", "*", true],
    ["\\*", "x", false],
    // * never crosses a slash.
    ["docs*", "docs/a.txt", false],
    // With a slash: the end of the path.
    ["docs/*.txt", "home/docs/a.txt", true],
    ["docs/*.txt", "docs/a.txt", true],
    ["docs/*.txt", "docs/sub/a.txt", false],
    // A leading slash anchors at the snapshot root.
    ["/docs/*.txt", "docs/a.txt", true],
    ["/docs/*.txt", "home/docs/a.txt", false],
    // ** is any number of whole components, none included.
    ["/docs/**/a.txt", "docs/a.txt", true],
    ["/docs/**/a.txt", "docs/x/y/a.txt", true],
    ["/docs/**", "docs/x/y", true],
    ["/docs/**", "other/x", false],
    // A name with a newline is a name like any other.
    ["with*line", "with\nline", true],
  ];
  it.each(cases)("%j on %j matches: %s", (pattern, path, matches) => {
    expect(new PathPattern(pattern).matches(parts(path))).toBe(matches);
  });

  it("compares case-insensitively only when asked", () => {
    expect(new PathPattern("*.PDF").matches(["a.pdf"])).toBe(false);
    expect(
      new PathPattern("*.PDF", { ignoreCase: true }).matches(["a.pdf"]),
    ).toBe(true);
  });

  it("says a subtree cannot match only for an anchored pattern it has passed", () => {
    expect(new PathPattern("*.txt").mayMatchBelow(["a", "b"])).toBe(true);
    const anchored = new PathPattern("/docs/*.txt");
    expect(anchored.mayMatchBelow(["docs"])).toBe(true);
    expect(anchored.mayMatchBelow(["other"])).toBe(false);
    expect(anchored.mayMatchBelow(["docs", "sub"])).toBe(false);
    expect(new PathPattern("/docs/**/x").mayMatchBelow(["docs", "a"])).toBe(
      true,
    );
  });

  it("refuses an empty pattern and an unclosed class as usage errors", () => {
    expect(() => new PathPattern("")).toThrow(
      expect.objectContaining({ kind: "usage" }),
    );
    expect(() => new PathPattern("/")).toThrow(
      expect.objectContaining({ kind: "usage" }),
    );
    expect(() => new PathPattern("a[bc")).toThrow(
      expect.objectContaining({
        kind: "usage",
        message: 'The pattern "a[bc" has a "[" without its "]"',
      }),
    );
    expect(() => new PatternSet([])).toThrow(
      expect.objectContaining({ kind: "usage" }),
    );
  });

  it("a set matches when any of its patterns does", () => {
    const set = new PatternSet(["*.txt", "/top"]);
    expect(set.matches(["a", "b.txt"])).toBe(true);
    expect(set.matches(["top"])).toBe(true);
    expect(set.matches(["a", "top"])).toBe(false);
  });
});
