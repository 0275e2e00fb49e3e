/**
 * `blindsync unlock REPO [--remove-all]`: the escape from a lock that will not go (restic's
 * `unlock --remove-all`, borg's `break-lock`). Without the flag it removes only locks whose
 * lease ran out, which is always safe; with it every lock, which is safe only when no other
 * command is using the repository, and which append-only connections refuse (they could
 * otherwise break a running prune's lock). Locks are not secret data, so no passphrase is asked:
 * whoever may delete on this connection may remove locks.
 */
import { Command } from "commander";
import { describeHolders } from "../../engine/index.js";
import { resolveLocation } from "../../store/index.js";
import type { CommandContext } from "../context.js";
import { openLocation } from "../context.js";
import { contextOf } from "./shared.js";

export async function runUnlock(
  context: CommandContext,
  location: string,
  removeAll: boolean,
): Promise<void> {
  const store = await openLocation(context, resolveLocation(location), "open");
  try {
    const { removed, live, more } = await store.removeLocks(removeAll);
    const { output } = context;
    if (output.json) {
      output.jsonLine({ type: "summary", removed, left: live.length + more });
      return;
    }
    output.line(
      `Removed ${removed} ${removeAll ? "" : "expired "}lock${removed === 1 ? "" : "s"}`,
    );
    if (live.length > 0)
      output.line(
        `Still held: ${describeHolders(live, more)} (remove them with --remove-all once no other command uses the repository)`,
      );
  } finally {
    await store.close();
  }
}

export function unlockCommand(): Command {
  return new Command("unlock")
    .description("remove stale locks (with --remove-all: every lock)")
    .argument("<repo>", "the repository")
    .option(
      "--remove-all",
      "remove every lock, also live ones: only when no other command uses the repository",
    )
    .addHelpText(
      "after",
      `
A command stopped with Ctrl-C or SIGTERM releases its lock before it exits, and blindsync
serve releases the locks of a connection that broke off (an ssh killed with its client).
Any other lock runs out by itself a few minutes after its holder stops refreshing it, so
unlock is needed only when a lock stays: a command that hangs, or a client that keeps
refreshing one. Without --remove-all it lists the locks still held.
Needs no passphrase. --remove-all is refused over an append-only connection.

Examples:
  blindsync unlock backup.example.org:/srv/backups/laptop   (lists the locks still held)
  blindsync unlock --remove-all backup.example.org:/srv/backups/laptop`,
    )
    .action(
      async (
        location: string,
        flags: { removeAll?: boolean },
        command: Command,
      ) => {
        await runUnlock(contextOf(command), location, flags.removeAll === true);
      },
    );
}
