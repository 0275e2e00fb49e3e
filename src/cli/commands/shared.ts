/** Pieces the command definitions share: building the context from parsed flags. */
import type { Command } from "commander";
import type { CommandContext, GlobalOptions } from "../context.js";
import { streamOutput } from "../output/output.js";
import { parseRate } from "../transfer-limits.js";

interface ParsedGlobals {
  passwordFile?: string;
  passwordCommand?: string;
  cacheDir?: string;
  ssh?: string;
  remoteCmd?: string;
  s3Endpoint?: string;
  s3PathStyle?: boolean;
  limitUpload?: string;
  limitDownload?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

/** The context of a command run from the real process (stdout, stderr, environment). */
export function contextOf(command: Command): CommandContext {
  const flags = command.optsWithGlobals<ParsedGlobals>();
  const globals: GlobalOptions = {
    ...(flags.passwordFile === undefined
      ? {}
      : { passwordFile: flags.passwordFile }),
    ...(flags.passwordCommand === undefined
      ? {}
      : { passwordCommand: flags.passwordCommand }),
    ...(flags.cacheDir === undefined ? {} : { cacheDir: flags.cacheDir }),
    ...(flags.ssh === undefined ? {} : { ssh: flags.ssh }),
    ...(flags.remoteCmd === undefined ? {} : { remoteCmd: flags.remoteCmd }),
    ...(flags.s3Endpoint === undefined ? {} : { s3Endpoint: flags.s3Endpoint }),
    ...(flags.s3PathStyle === true ? { s3PathStyle: true } : {}),
    ...(flags.limitUpload === undefined
      ? {}
      : { limitUploadKiBps: parseRate("--limit-upload", flags.limitUpload) }),
    ...(flags.limitDownload === undefined
      ? {}
      : {
          limitDownloadKiBps: parseRate(
            "--limit-download",
            flags.limitDownload,
          ),
        }),
  };
  const output = streamOutput(process.stdout, process.stderr, {
    json: flags.json === true,
    quiet: flags.quiet === true,
    verbose: flags.verbose === true,
  });
  return { output, env: process.env, globals };
}

/** Commander collects repeatable options through this. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
