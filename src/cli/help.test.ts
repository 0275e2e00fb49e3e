import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "./program.js";

/** The --help text of `command` exactly as the CLI prints it, the texts added after included. */
function helpOf(command: Command): string {
  let text = "";
  command.configureOutput({
    writeOut: (chunk) => (text += chunk),
    writeErr: (chunk) => (text += chunk),
  });
  command.outputHelp();
  return text;
}

/** Every command below `command`, by its full name ("key list"). */
function allCommands(command: Command, prefix = ""): [string, Command][] {
  return command.commands.flatMap((sub) => {
    const name = `${prefix}${sub.name()}`;
    return [[name, sub], ...allCommands(sub, `${name} `)] as [
      string,
      Command,
    ][];
  });
}

const GLOBAL_OPTIONS = [
  "--json",
  "--password-file <file>",
  "--password-command <cmd>",
  "-q, --quiet",
  "-v, --verbose",
  "--ssh <command>",
  "--remote-cmd <command>",
  "--s3-endpoint <url>",
  "--cache-dir <dir>",
];

describe("--help", () => {
  const program = buildProgram();
  const commands = allCommands(program);

  it("walks a tree that holds the new commands", () => {
    const names = commands.map(([name]) => name);
    for (const name of [
      "find",
      "stats",
      "dump",
      "version",
      "completion",
      "key list",
    ])
      expect(names).toContain(name);
  });

  it.each(commands)("of %s teaches with examples", (_name, command) => {
    expect(helpOf(command)).toMatch(/\nExamples:\n {2}\S/);
  });

  it.each(commands.filter(([name]) => name !== "serve"))(
    "of %s shows the global options",
    (_name, command) => {
      const help = helpOf(command);
      expect(help).toContain("Global Options:");
      for (const option of GLOBAL_OPTIONS) expect(help).toContain(option);
    },
  );

  it("of blindsync itself has examples and lists the global options once", () => {
    const help = helpOf(program);
    expect(help).toMatch(/\nExamples:\n {2}blindsync /);
    for (const option of GLOBAL_OPTIONS) expect(help).toContain(option);
  });

  it("of blindsync itself names every BLINDSYNC_ variable the program reads", () => {
    const help = helpOf(program);
    const read = variablesReadIn(fileURLToPath(new URL("..", import.meta.url)));
    // A test that would pass on an empty source tree proves nothing.
    expect(read).toContain("BLINDSYNC_PACK_SIZE");
    expect(read.filter((name) => !help.includes(name))).toEqual([]);
  });
});

/** The BLINDSYNC_ variables named in the program's own sources (tests left out). */
function variablesReadIn(sourceRoot: string): string[] {
  const names = new Set<string>();
  for (const entry of readdirSync(sourceRoot, {
    recursive: true,
    withFileTypes: true,
  })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    if (entry.name.endsWith(".test.ts")) continue;
    const text = readFileSync(join(entry.parentPath, entry.name), "utf8");
    for (const match of text.matchAll(/\bBLINDSYNC_[A-Z_]*[A-Z]\b/g))
      names.add(match[0]);
  }
  return [...names].sort();
}
