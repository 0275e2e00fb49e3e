import { describe, expect, it } from "vitest";
import { isPattern, Selection, type Scope } from "./selection.js";

/** A snapshot as nested names: a string is a file, an object a directory. */
interface Dir {
  readonly [name: string]: Dir | string;
}

const SNAPSHOT: Dir = {
  "a.txt": "",
  docs: {
    "report.md": "",
    "notes.txt": "",
    deep: { "plan.md": "", "x.log": "" },
  },
  src: { "main.ts": "", deep: { "y.ts": "" } },
};

/** The files a restore with these options writes, walking as walker.ts does. */
function restored(
  include: string[],
  exclude: string[] = [],
): { files: string[]; selection: Selection } {
  const selection = Selection.parse(include, exclude);
  const files: string[] = [];
  const walk = (dir: Dir, scope: Scope, prefix: string): void => {
    for (const [name, value] of Object.entries(dir)) {
      const isDir = typeof value !== "string";
      const child = selection.child(scope, Buffer.from(name), isDir);
      if (child === undefined) continue;
      if (typeof value === "string") files.push(`${prefix}${name}`);
      else walk(value, child, `${prefix}${name}/`);
    }
  };
  walk(SNAPSHOT, selection.root(), "");
  return { files, selection };
}

describe("Selection", () => {
  const cases: [string[], string[], string[]][] = [
    [
      [],
      [],
      [
        "a.txt",
        "docs/report.md",
        "docs/notes.txt",
        "docs/deep/plan.md",
        "docs/deep/x.log",
        "src/main.ts",
        "src/deep/y.ts",
      ],
    ],
    [["*.md"], [], ["docs/report.md", "docs/deep/plan.md"]],
    [["docs/*.md"], [], ["docs/report.md"]],
    [["**/plan.md", "/a.txt"], [], ["a.txt", "docs/deep/plan.md"]],
    [["*.md", "!plan.md"], [], ["docs/report.md"]],
    [["**/deep/"], ["*.log"], ["docs/deep/plan.md", "src/deep/y.ts"]],
    [["docs"], ["*.txt", "deep/"], ["docs/report.md"]],
    [["./src/"], [], ["src/main.ts", "src/deep/y.ts"]],
    [["."], ["docs", "src/*.ts"], ["a.txt", "src/deep/y.ts"]],
  ];
  for (const [include, exclude, files] of cases) {
    it(`include ${JSON.stringify(include)}, exclude ${JSON.stringify(exclude)}`, () => {
      const result = restored(include, exclude);
      expect(result.files).toEqual(files);
      expect(result.selection.unmatched()).toEqual([]);
    });
  }

  it("names the include paths and patterns that selected nothing, and the unused excludes", () => {
    const { files, selection } = restored(
      ["*.pdf", "nope/x", "a.txt/inside", "docs/report.md", "!*.md"],
      ["*.tmp", "*.txt"],
    );
    expect(files).toEqual(["docs/report.md"]);
    expect(selection.unmatched()).toEqual(["nope/x", "a.txt/inside", "*.pdf"]);
    expect(selection.unusedExcludes()).toEqual(["*.tmp"]);
  });

  it("counts a pattern as used below a directory another include restores whole", () => {
    const { selection } = restored(["docs", "*.md"]);
    expect(selection.unmatched()).toEqual([]);
  });

  it("tells patterns from plain paths", () => {
    for (const spec of ["*.md", "a?c", "[ab].txt", "!keep", "a\\*b"])
      expect(isPattern(spec), spec).toBe(true);
    for (const spec of ["docs/report.md", "./src/", "a b!", "/top"])
      expect(isPattern(spec), spec).toBe(false);
  });
});
