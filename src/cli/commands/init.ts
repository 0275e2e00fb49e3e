/** `blindsync init REPO`: creates a repository and its first key slot. */
import { Command } from "commander";
import { Repository } from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import { openLocation, passphrase, type CommandContext } from "../context.js";
import { contextOf } from "./shared.js";

export interface InitOptions {
  readonly repository: string;
  /** KDF cost as log2(N); tests lower it, users keep the default. */
  readonly kdfLogN?: number;
}

export async function runInit(
  context: CommandContext,
  options: InitOptions,
): Promise<void> {
  const secret = await passphrase(context, true)();
  const store = await openLocation(context, options.repository, "create");
  try {
    const repo = await Repository.create(
      store,
      secret,
      options.kdfLogN === undefined
        ? {}
        : { scrypt: { logN: options.kdfLogN, r: 8, p: 1 } },
    );
    if (context.output.json) {
      context.output.jsonLine({
        type: "init",
        repository: options.repository,
        id: toHex(repo.id),
      });
    } else {
      context.output.line(
        `Created repository ${repo.describe()} at "${options.repository}"`,
      );
      context.output.line(
        "Keep the passphrase safe: without it the data cannot be recovered.",
      );
    }
  } finally {
    await store.close();
  }
}

export function initCommand(): Command {
  return new Command("init")
    .description("create a new, empty repository")
    .argument(
      "<repo>",
      "a local directory, [user@]host:path or ssh://[user@]host[:port]/path",
    )
    .addHelpText(
      "after",
      `
The passphrase comes from BLINDSYNC_PASSWORD, --password-file, --password-command,
or is asked twice on the terminal. It is never stored; losing it loses the data.

Examples:
  blindsync init /mnt/usb/vault
  blindsync init me@host:vault`,
    )
    .action(async (repository: string, _flags: unknown, command: Command) => {
      const logN = process.env.BLINDSYNC_KDF_LOGN;
      await runInit(contextOf(command), {
        repository,
        ...(logN === undefined ? {} : { kdfLogN: Number(logN) }),
      });
    });
}
