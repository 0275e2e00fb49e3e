/**
 * `blindsync serve`: the server side that ssh runs. Thin: flags and help, then runServe on
 * stdin/stdout. Logs go to stderr, which ssh relays to the client, so stdout carries frames only.
 */

import { Command } from "commander";
import { runServe } from "../../store/index.js";

const HELP_AFTER = `
The client starts this over ssh; you do not run it by hand. The repository path
travels inside the protocol, so it can be pinned down with a forced command in
~/.ssh/authorized_keys on the server:

  command="blindsync serve --restrict-to-path /srv/backups --append-only",restrict ssh-ed25519 AAAA... laptop

With --append-only a stolen client key cannot delete or overwrite history; give
pruning its own key whose forced command lacks --append-only.

Examples:
  blindsync serve --restrict-to-path /srv/backups --append-only   (a forced command)
  blindsync --remote-cmd ~/.local/bin/blindsync snapshots me@host:vault   (the client runs "<cmd> serve")`;

export function serveCommand(): Command {
  return new Command("serve")
    .description(
      "Serve repositories over stdin/stdout for a remote client (what ssh runs on the server)",
    )
    .option(
      "--restrict-to-path <dir>",
      "only serve repositories in DIR (may be repeated; symlinks cannot escape)",
      (dir: string, dirs: string[] | undefined) => [...(dirs ?? []), dir],
    )
    .option(
      "--append-only",
      "refuse every delete and overwrite (also enforced in the database)",
    )
    .addHelpText("after", HELP_AFTER)
    .action(
      async (options: { restrictToPath?: string[]; appendOnly?: boolean }) => {
        await runServe({
          input: process.stdin,
          output: process.stdout,
          log: (line) => process.stderr.write(`blindsync serve: ${line}\n`),
          // Commander leaves both undefined when the flag is absent (no default in --help).
          restrictToPaths: options.restrictToPath ?? [],
          appendOnly: options.appendOnly === true,
        });
      },
    );
}
