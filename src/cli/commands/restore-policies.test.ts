/**
 * Restore policies (issue 21) through runRestore() in process, against a real repository and
 * real target directories: --include/--exclude patterns, --overwrite, the summary's counts,
 * --dry-run, --verify, and the temporary files an interrupted restore left.
 */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  capturedStream,
  sharedRepository,
  type TestContext,
} from "../../../test/helpers/command-context.js";
import { listAll, treeHash } from "../../../test/helpers/files.js";
import { streamOutput } from "../output/output.js";
import { runRestore, type RestoreCommandOptions } from "./restore.js";

const FILES = {
  "a.txt": "alpha\n",
  "docs/report.md": "# report\n",
  "docs/notes.txt": "notes\n",
  "docs/deep/plan.md": "plan\n",
  "src/main.ts": "main\n",
  "src/tmp/cache.bin": "cache\n",
};
const shared = sharedRepository([FILES]);

let targets = 0;
/** A target directory no other test uses. */
const freshTarget = (): string => join(shared.dir, `target-${++targets}`);

const restore = (
  target: string,
  options: Partial<RestoreCommandOptions> = {},
  context: TestContext = shared.context.with(),
) =>
  runRestore(context, {
    repository: shared.repository,
    target,
    ...options,
  });

/** A context whose output is verbose (-v), with what it prints to stdout. */
function verboseContext(): { context: TestContext; lines: () => string[] } {
  const base = shared.context.with();
  const stdout = capturedStream();
  const context: TestContext = {
    ...base,
    output: streamOutput(stdout, capturedStream(), {
      json: false,
      quiet: false,
      verbose: true,
    }),
  };
  return { context, lines: () => stdout.lines() };
}

/**
 * A target holding the whole snapshot, then a.txt changed and given an old mtime, report.md
 * changed and given a future one, and a file the snapshot does not have.
 */
async function changedTarget(): Promise<string> {
  const target = freshTarget();
  await restore(target);
  writeFileSync(join(target, "a.txt"), "alpha, edited\n");
  utimesSync(
    join(target, "a.txt"),
    new Date("2000-01-01"),
    new Date("2000-01-01"),
  );
  const future = new Date(Date.now() + 86_400_000);
  writeFileSync(join(target, "docs/report.md"), "# report, edited\n");
  utimesSync(join(target, "docs/report.md"), future, future);
  writeFileSync(join(target, "extra.txt"), "not in the snapshot\n");
  return target;
}

const read = (target: string, path: string): string =>
  readFileSync(join(target, path), "utf8");

describe("restore --include and --exclude", () => {
  it("an include pattern restores what it matches at any depth, creating only the directories leading there", async () => {
    const target = freshTarget();
    const result = await restore(target, { include: ["*.md"] });
    expect(listAll(target).sort()).toEqual([
      "docs",
      "docs/deep",
      "docs/deep/plan.md",
      "docs/report.md",
    ]);
    expect(result).toMatchObject({ files: 2, written: 2, unmatched: [] });
  });

  it("a plain include path restores that path as before, and excludes leave out what they match", async () => {
    const target = freshTarget();
    await restore(target, { include: ["docs"], exclude: ["deep/", "*.txt"] });
    expect(listAll(target).sort()).toEqual(["docs", "docs/report.md"]);
    const whole = freshTarget();
    await restore(whole, { exclude: ["/src/tmp"] });
    expect(existsSync(join(whole, "src/main.ts"))).toBe(true);
    expect(existsSync(join(whole, "src/tmp"))).toBe(false);
  });

  it("an include that matches nothing is a plain error naming it (exit 1), never the integrity code", async () => {
    const target = freshTarget();
    await expect(
      restore(target, { include: ["*.pdf", "docs/notes.txt"] }),
    ).rejects.toMatchObject({
      kind: "failed",
      message: 'Include pattern "*.pdf" matches nothing in the snapshot',
    });
    expect(read(target, "docs/notes.txt")).toBe("notes\n");
    await expect(
      restore(freshTarget(), { include: ["nope/missing.txt"] }),
    ).rejects.toMatchObject({ kind: "failed" });
  });

  it("a file standing where a directory must go is an ordinary failure (exit 1), and the rest is restored", async () => {
    const target = freshTarget();
    mkdirSync(target);
    writeFileSync(join(target, "docs"), "a file in the way\n");
    const context = shared.context.with();
    await expect(restore(target, {}, context)).rejects.toMatchObject({
      kind: "failed",
    });
    expect(context.stderr.text()).toMatch(
      /Refusing to restore directory "docs"/,
    );
    expect(read(target, "docs")).toBe("a file in the way\n");
    expect(read(target, "src/main.ts")).toBe("main\n");
  });
});

describe("restore --overwrite", () => {
  // a.txt: changed, older than the snapshot; report.md: changed, newer; four files identical.
  const cases = [
    ["always", { overwritten: 6, leftAlone: 0 }, "alpha\n", "# report\n"],
    ["if-changed", { overwritten: 2, leftAlone: 4 }, "alpha\n", "# report\n"],
    [
      "if-newer",
      { overwritten: 1, leftAlone: 5 },
      "alpha\n",
      "# report, edited\n",
    ],
    [
      "never",
      { overwritten: 0, leftAlone: 6 },
      "alpha, edited\n",
      "# report, edited\n",
    ],
  ] as const;
  for (const [policy, counts, a, report] of cases) {
    it(`${policy}: counts written, overwritten, left alone and deleted`, async () => {
      const target = await changedTarget();
      const json = shared.context.with({ json: true });
      const result = await restore(
        target,
        { overwrite: policy, delete: true },
        json,
      );
      expect(result).toMatchObject({ ...counts, written: 0, deleted: 1 });
      expect(read(target, "a.txt")).toBe(a);
      expect(read(target, "docs/report.md")).toBe(report);
      expect(existsSync(join(target, "extra.txt"))).toBe(false);
      expect(json.json().at(-1)).toMatchObject({
        type: "summary",
        ...counts,
        written: 0,
        deleted: 1,
      });
    });
  }

  it("the text summary says how many files were new, overwritten, left alone and deleted", async () => {
    const target = await changedTarget();
    writeFileSync(join(target, "src/main.ts"), "main, edited\n");
    const context = shared.context.with();
    await restore(target, { include: ["src", "docs"] }, context);
    expect(context.take().at(-1)).toMatch(
      /: 5 files, .*; 0 new, 2 overwritten, 3 left alone \(3 already identical\), 0 deleted$/,
    );
  });
});

describe("restore --dry-run", () => {
  it("changes nothing in the target, byte for byte, and says (with -v) what would happen to each path", async () => {
    const target = await changedTarget();
    const before = await treeHash(target);
    const { context, lines } = verboseContext();
    const result = await restore(
      target,
      {
        dryRun: true,
        delete: true,
        overwrite: "if-newer",
      },
      context,
    );
    expect(await treeHash(target)).toBe(before);
    expect(result).toMatchObject({ overwritten: 1, leftAlone: 5, deleted: 1 });
    expect(lines()).toEqual(
      expect.arrayContaining([
        "overwrite a.txt",
        "keep      docs/report.md",
        "delete    extra.txt",
      ]),
    );
    expect(lines().at(-1)).toMatch(
      /^Dry run of snapshot .*: would write 1 file .*nothing was changed$/,
    );
  });

  it("into a missing target creates nothing and counts every file as new", async () => {
    const target = freshTarget();
    const { context, lines } = verboseContext();
    const result = await restore(target, { dryRun: true }, context);
    expect(existsSync(target)).toBe(false);
    expect(result).toMatchObject({ files: 6, written: 6, dirs: 4 });
    expect(lines()).toEqual(
      expect.arrayContaining([
        "create    docs/",
        "create    docs/deep/plan.md",
      ]),
    );
  });
});

describe("restore --verify and leftovers", () => {
  it("--verify reads back every file written and counts them", async () => {
    const target = await changedTarget();
    const context = shared.context.with();
    const result = await restore(target, { verify: true }, context);
    expect(result).toMatchObject({ overwritten: 2, verified: 2, errors: 0 });
    expect(context.take().at(-1)).toMatch(/; 2 files verified$/);
  });

  it("removes the temporary files an interrupted restore left, and nothing else", async () => {
    const target = freshTarget();
    mkdirSync(join(target, "docs", ".blindsync-00000000000000aa-1.tmp"), {
      recursive: true,
    });
    writeFileSync(join(target, ".blindsync-0123456789abcdef-7.tmp"), "half");
    writeFileSync(join(target, "docs/.blindsync-fedcba9876543210-0.tmp"), "");
    writeFileSync(join(target, ".blindsync-notes.tmp"), "the user's own\n");
    const result = await restore(target);
    expect(result.leftoversRemoved).toBe(2);
    expect(
      listAll(target)
        .filter((path) => path.includes(".blindsync-"))
        .sort(),
    ).toEqual([
      ".blindsync-notes.tmp",
      "docs/.blindsync-00000000000000aa-1.tmp",
    ]);
  });
});
