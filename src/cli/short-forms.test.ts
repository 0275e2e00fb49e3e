import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildProgram } from "./program.js";
import {
  checkCommandWord,
  closestCommand,
  editDistance,
  expandShortForms,
  positionalIndexes,
  shortFormGrammar,
} from "./short-forms.js";

// The real command definitions: a new option of backup or restore is understood without a list.
const grammar = shortFormGrammar(buildProgram());
// A remote location counts as a repository without connecting, so no test here opens a store.
const REPO = "me@host:vault";
const work = mkdtempSync(join(tmpdir(), "blindsync-short-forms-"));
const missing = join(work, "missing");

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("shortFormGrammar()", () => {
  it("reads which options take a value from the global, backup and restore definitions", () => {
    for (const flag of [
      "--password-file",
      "--cache-dir",
      "--ssh",
      "--snapshot",
      "-s",
      "--include",
      "-i",
      "--tag",
      "--exclude",
      "-e",
      "--exclude-file",
      "--time",
    ]) {
      expect(grammar.optionsWithValue.get(flag), flag).toBe("required");
    }
    for (const flag of ["--json", "-q", "--delete", "--init", "-n"]) {
      expect(grammar.optionsWithValue.has(flag), flag).toBe(false);
    }
    expect(grammar.commandNames.has("restore")).toBe(true);
  });

  it("finds no flag that takes a value in one short-form command and none in another", () => {
    // The grammar is the union of backup's and restore's options: safe only while they agree.
    const program = buildProgram();
    const kinds = new Map<string, boolean>();
    for (const command of [
      program,
      ...program.commands.filter((c) =>
        ["backup", "restore"].includes(c.name()),
      ),
    ]) {
      for (const option of command.options) {
        const takesValue = option.required || option.optional;
        for (const flag of [option.long, option.short]) {
          if (flag === undefined) continue;
          expect(kinds.get(flag) ?? takesValue, flag).toBe(takesValue);
          kinds.set(flag, takesValue);
        }
      }
    }
  });
});

describe("positionalIndexes()", () => {
  const cases: [string[], string[]][] = [
    [
      ["a", "b"],
      ["a", "b"],
    ],
    [
      ["a", "b", "--snapshot", "x"],
      ["a", "b"],
    ],
    [
      ["--snapshot", "x", "a", "b"],
      ["a", "b"],
    ],
    [
      ["a", "b", "--snapshot=x"],
      ["a", "b"],
    ],
    [
      ["a", "-s", "x", "b"],
      ["a", "b"],
    ],
    [
      ["a", "-sx", "b"],
      ["a", "b"],
    ],
    // A cluster: -n is a flag, -s takes the next argument.
    [
      ["a", "b", "-ns", "x"],
      ["a", "b"],
    ],
    [
      ["--password-file", "f", "a", "b", "--tag", "t", "--json"],
      ["a", "b"],
    ],
    // A value that looks like an option is still the required value.
    [
      ["a", "b", "--tag", "-weird"],
      ["a", "b"],
    ],
    [
      ["a", "--", "-dir", "b"],
      ["a", "-dir", "b"],
    ],
    [
      ["a", "-", "b"],
      ["a", "-", "b"],
    ],
    [
      ["a", "b", "--delete", "c"],
      ["a", "b", "c"],
    ],
  ];
  it.each(cases)("positionals of %j are %j", (args, expected) => {
    expect(
      positionalIndexes(args, grammar.optionsWithValue).map((i) => args[i]),
    ).toEqual(expected);
  });

  it("takes the next argument for an optional value only when it is not an option", () => {
    const options = new Map([["--color", "optional" as const]]);
    expect(positionalIndexes(["--color", "a", "b"], options)).toEqual([2]);
    expect(positionalIndexes(["--color", "--json", "b"], options)).toEqual([2]);
  });
});

describe("expandShortForms()", () => {
  it("restores for REPO TARGET --snapshot X (the value is not a third path)", () => {
    expect(
      expandShortForms([REPO, missing, "--snapshot", "1a2b3c4d"], grammar),
    ).toEqual(["restore", REPO, missing, "--snapshot", "1a2b3c4d"]);
    expect(
      expandShortForms(["-s", "1a2b", "-i", "notes", REPO, missing], grammar),
    ).toEqual(["restore", "-s", "1a2b", "-i", "notes", REPO, missing]);
  });

  it("restores when a global option with a value comes first", () => {
    expect(
      expandShortForms(["--password-file", "pw", REPO, missing], grammar),
    ).toEqual(["restore", "--password-file", "pw", REPO, missing]);
  });

  it("backs up SRC REPO with tags and excludes, and several sources", () => {
    expect(
      expandShortForms(
        [work, REPO, "--tag", "daily", "-e", "node_modules"],
        grammar,
      ),
    ).toEqual(["backup", work, REPO, "--tag", "daily", "-e", "node_modules"]);
    expect(expandShortForms([work, missing, REPO], grammar)).toEqual([
      "backup",
      work,
      missing,
      REPO,
    ]);
  });

  it("still refuses two repositories when options are present", () => {
    expect(() =>
      expandShortForms([REPO, "other@host:vault", "-s", "x"], grammar),
    ).toThrow(/Both .* are repositories/);
  });

  it("leaves commands, help and option-only lines alone", () => {
    for (const args of [
      ["restore", REPO, missing, "--snapshot", "x"],
      ["--cache-dir", "c", "snapshots", REPO],
      ["help", "backup"],
      ["--version"],
    ]) {
      expect(expandShortForms(args, grammar)).toEqual(args);
    }
  });
});

describe("a mistyped command word", () => {
  it("is 'unknown command' with the command it resembles (exit 2)", () => {
    for (const [args, suggestion] of [
      [["snapshotz", REPO], "snapshots"],
      [["--json", "snapshot", REPO], "snapshots"],
      [["restor", REPO, missing], "restore"],
      [["dupm", REPO, "latest", "x"], "dump"],
      [["stat"], "stats"],
    ] as const) {
      expect(() => expandShortForms(args, grammar), args.join(" ")).toThrow(
        expect.objectContaining({
          kind: "usage",
          message: `unknown command '${args.find((arg) => !arg.startsWith("-"))!}'`,
          hint: `did you mean '${suggestion}'?`,
        }),
      );
    }
  });

  it("alone and like no command, is unknown with a pointer to --help", () => {
    expect(() => expandShortForms(["frobnicate"], grammar)).toThrow(
      expect.objectContaining({
        kind: "usage",
        message: "unknown command 'frobnicate'",
        hint: "The commands are listed by: blindsync --help",
      }),
    );
  });

  it("that names an existing path, or is no plain word, keeps the short forms", () => {
    // The tests run in the project root, where "docs" is a directory.
    const names = new Set(["dock"]);
    expect(() => {
      checkCommandWord("docs", 2, names);
    }).not.toThrow();
    expect(() => {
      checkCommandWord("docz", 2, names);
    }).toThrow(/unknown command 'docz'/);
    expect(() => {
      checkCommandWord("./docz", 1, names);
    }).not.toThrow();
    expect(() => {
      checkCommandWord("me@host:dock", 1, names);
    }).not.toThrow();
    // Not close to any command, with a repository after it: the backup says what is missing.
    expect(expandShortForms(["frobnicate", REPO], grammar)).toEqual([
      "backup",
      "frobnicate",
      REPO,
    ]);
  });

  it("is matched by edit distance, swaps counting one", () => {
    expect(editDistance("snapshotz", "snapshots")).toBe(1);
    expect(editDistance("dupm", "dump")).toBe(1);
    expect(editDistance("", "ls")).toBe(2);
    const names = new Set(["ls", "cat", "restore"]);
    expect(closestCommand("cta", names)).toBe("cat");
    expect(closestCommand("rm", names)).toBeUndefined();
    expect(closestCommand("RESTORE", names)).toBe("restore");
  });
});
