/** `version` (and `--version`): which blindsync this is, on which Node.js and platform. */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import type { CommandContext } from "../context.js";
import { contextOf } from "./shared.js";

/**
 * The package's version, read from package.json (three directories up from both
 * src/cli/commands/ and dist/cli/commands/), so a release changes it in one place.
 */
export const VERSION: string = (() => {
  try {
    const text = readFileSync(
      new URL("../../../package.json", import.meta.url),
      "utf8",
    );
    const { version } = JSON.parse(text) as { version?: unknown };
    return typeof version === "string" ? version : "unknown";
  } catch {
    // A copy without its package.json still runs; it just cannot say which version it is.
    return "unknown";
  }
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
