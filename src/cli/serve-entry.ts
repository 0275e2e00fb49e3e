/**
 * The entry point of `blindsync serve`, kept apart from the full command tree: ssh starts a
 * server for every connection, and it needs only the store and the protocol, not the engine,
 * the chunker or zstd. Loading less makes every remote command start sooner.
 */
import { Command } from "commander";
import { serveCommand } from "./commands/serve.js";
import { report } from "./exit.js";

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command("blindsync").exitOverride();
  program.addCommand(serveCommand().exitOverride());
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    return report(error, argv.includes("-v") || argv.includes("--verbose"));
  }
}
