import { describe, expect, it } from "vitest";
import {
  parseIncludes,
  unmatchedIncludes,
  type IncludeNode,
} from "./includes.js";

/** The trie as nested plain objects of name -> { whole?, children }. */
function shape(node: IncludeNode): unknown {
  return Object.fromEntries(
    [...node.children].map(([key, child]) => [
      Buffer.from(key, "latin1").toString(),
      { whole: child.whole, children: shape(child) },
    ]),
  );
}

describe("parseIncludes()", () => {
  it.each([[undefined], [[]], [["."]], [["/"]], [["docs", "./"]]])(
    "%j means the whole snapshot",
    (include) => {
      expect(parseIncludes(include)).toBeUndefined();
    },
  );

  it("builds one trie of names, leading directories without a path of their own", () => {
    const root = parseIncludes(["docs/a.txt", "./docs//b/", "music"]);
    expect(root).toBeDefined();
    expect(shape(root!)).toEqual({
      docs: {
        whole: undefined,
        children: {
          "a.txt": { whole: "docs/a.txt", children: {} },
          b: { whole: "./docs//b/", children: {} },
        },
      },
      music: { whole: "music", children: {} },
    });
  });

  it.each([["../x"], ["a/../../b"], ["a/.."]])(
    "refuses %j, which leaves the snapshot root, as a usage error",
    (path) => {
      expect(() => parseIncludes([path])).toThrow(
        expect.objectContaining({ kind: "usage" }),
      );
    },
  );

  it("refuses a path holding a NUL byte as a usage error", () => {
    expect(() => parseIncludes(["a\0b"])).toThrow(
      expect.objectContaining({ kind: "usage" }),
    );
  });
});

describe("unmatchedIncludes()", () => {
  it("names the paths the walk did not reach, as the user wrote them, parents first", () => {
    const root = parseIncludes(["a", "a/b", "c/d", "e"])!;
    const a = root.children.get("a")!;
    a.matched = true;
    root.children.get("c")!.matched = true;
    expect(unmatchedIncludes(root)).toEqual(["a/b", "c/d", "e"]);
    a.children.get("b")!.matched = true;
    expect(unmatchedIncludes(root)).toEqual(["c/d", "e"]);
  });
});
