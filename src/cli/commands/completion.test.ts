import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildProgram } from "../program.js";
import { completionScript } from "./completion.js";

const program = buildProgram();
const work = mkdtempSync(join(tmpdir(), "blindsync-completion-"));
const bashScript = join(work, "blindsync.bash");
writeFileSync(bashScript, completionScript(program, "bash"));

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** What bash offers for the command line `words` (the last one being completed). */
function bashCompletes(words: readonly string[]): string[] {
  const output = execFileSync(
    "bash",
    [
      "-c",
      'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _blindsync; printf "%s\\n" "${COMPREPLY[@]}"',
      bashScript,
      "blindsync",
      ...words,
    ],
    { encoding: "utf8" },
  );
  return output.split("\n").filter((line) => line !== "");
}

/** zsh and fish are not installed everywhere the tests run (CI's image has neither). */
const has = (shell: string): boolean =>
  spawnSync(shell, ["-c", "true"]).status === 0;

describe("completion bash", () => {
  it("is a script bash -n accepts", () => {
    const check = spawnSync("bash", ["-n", bashScript], { encoding: "utf8" });
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
  });

  it("lists every command, and completes subcommands, options and their choices", () => {
    const commands = bashCompletes([""]);
    for (const name of program.commands.map((command) => command.name()))
      expect(commands).toContain(name);
    expect(bashCompletes(["sn"])).toEqual(["snapshots"]);
    expect(bashCompletes(["key", "l"])).toEqual(["list"]);
    expect(bashCompletes(["stats", "--mode", ""])).toEqual([
      "restore-size",
      "raw-data",
    ]);
    expect(bashCompletes(["completion", ""])).toEqual(["bash", "zsh", "fish"]);
    // Its own options and the global ones; the value of a global option is skipped.
    expect(bashCompletes(["find", "--ig"])).toEqual(["--ignore-case"]);
    expect(bashCompletes(["--password-file", "pw", "find", "--js"])).toEqual([
      "--json",
    ]);
  });
});

describe("completion zsh and fish", () => {
  const zsh = completionScript(program, "zsh");
  const fish = completionScript(program, "fish");

  it("name every command with its description", () => {
    for (const command of program.commands) {
      expect(zsh).toContain(`'${command.name()}:`);
      expect(fish).toContain(`-a '${command.name()}'`);
    }
    expect(zsh.startsWith("#compdef blindsync\n")).toBe(true);
    expect(fish).toContain("-l mode -x -a 'restore-size raw-data'");
  });

  it.skipIf(!has("zsh"))("zsh -n accepts the zsh script", () => {
    const check = spawnSync("zsh", ["-n"], { input: zsh, encoding: "utf8" });
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
  });

  it.skipIf(!has("fish"))(
    "fish --no-execute accepts the fish script, and fish completes from it",
    () => {
      const fishScript = join(work, "blindsync.fish");
      writeFileSync(fishScript, fish);
      const check = spawnSync("fish", ["--no-execute", fishScript], {
        encoding: "utf8",
      });
      expect(check.stderr).toBe("");
      expect(check.status).toBe(0);
      const completes = (line: string): string[] =>
        execFileSync(
          "fish",
          ["-c", "source $argv[1]; complete -C $argv[2]", fishScript, line],
          { encoding: "utf8" },
        )
          .split("\n")
          .filter((row) => row !== "")
          .map((row) => row.split("\t")[0] as string);
      expect(completes("blindsync key l")).toEqual(["list"]);
      expect(completes("blindsync stats --mode ")).toEqual([
        "raw-data",
        "restore-size",
      ]);
    },
  );
});
