/** `version` (and `--version`): which blindsync this is, on which Node.js and platform. */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import type { CommandContext } from "../context.js";
import { contextOf } from "./shared.js";

/**
 * The package's version, read from package.json, so a release changes it in one place: two
 * directories up from the bundle in dist/cli/ (scripts/bundle.js), three from
 * src/cli/commands/ (tests) and from tsc's dist/cli/commands/. Nearer first: from dist/cli/,
 * three up is outside the project.
 */
export const VERSION: string = (() => {
  for (const relative of ["../../package.json", "../../../package.json"]) {
    let text: string;
    try {
      text = readFileSync(new URL(relative, import.meta.url), "utf8");
    } catch {
      continue;
    }
    try {
      const { name, version } = JSON.parse(text) as {
        name?: unknown;
        version?: unknown;
      };
      if (name === "blindsync" && typeof version === "string") return version;
    } catch {
      // Not ours, or damaged: try the next one.
    }
  }
  // A copy without its package.json still runs; it just cannot say which version it is.
  return "unknown";
})();

export interface VersionInfo {
  readonly version: string;
  readonly node: string;
  readonly platform: string;
  readonly arch: string;
}

export function versionInfo(): VersionInfo {
  return {
    version: VERSION,
    node: process.versions.node,
    platform: process.platform,
    arch: process.arch,
  };
}

export function runVersion(context: CommandContext): VersionInfo {
  const info = versionInfo();
  if (context.output.json) context.output.jsonLine(info);
  else
    context.output.line(
      `blindsync ${info.version} (Node.js ${info.node} on ${info.platform}/${info.arch})`,
    );
  return info;
}

export function versionCommand(): Command {
  return new Command("version")
    .description("print the version of blindsync, Node.js and the platform")
    .addHelpText(
      "after",
      `
With --json: {version, node, platform, arch}. blindsync --version prints the version alone.

Examples:
  blindsync version
  blindsync version --json`,
    )
    .action((_flags: unknown, command: Command) => {
      runVersion(contextOf(command));
    });
}
