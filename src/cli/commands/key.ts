/**
 * `blindsync key list|add|passwd|remove REPO`: the passphrases that open a repository. Each key
 * slot wraps the same master secret under one passphrase, so adding, changing or removing a
 * passphrase rewrites one slot and never touches the data.
 */
import { Command } from "commander";
import { BlindsyncError, isBlindsyncError } from "../../errors.js";
import type { ScryptParams } from "../../crypto/index.js";
import { parseKeySlot, type Repository } from "../../repo/index.js";
import { withRepository, type CommandContext } from "../context.js";
import { kdfCostFromEnv } from "../kdf-cost.js";
import { readPassphrase } from "../passphrase.js";
import { contextOf } from "./shared.js";

export type KeySlotInfo =
  | {
      readonly name: string;
      /** True for the slot the current passphrase opened. */
      readonly current: boolean;
      readonly kdf: "scrypt";
      readonly logN: number;
      readonly r: number;
      readonly p: number;
    }
  | {
      readonly name: string;
      readonly current: false;
      /** Why no passphrase can open it (malformed, or out-of-bounds KDF parameters). */
      readonly unreadable: string;
    };

export interface NewPassphraseOptions {
  readonly repository: string;
  /** File holding the new passphrase (else BLINDSYNC_NEW_PASSWORD, else a prompt asked twice). */
  readonly newPasswordFile?: string;
}

function readNewPassphrase(
  context: CommandContext,
  options: NewPassphraseOptions,
): Promise<Uint8Array> {
  return readPassphrase({
    env: context.env.BLINDSYNC_NEW_PASSWORD,
    file: options.newPasswordFile,
    label: "new passphrase",
    how: "BLINDSYNC_NEW_PASSWORD or --new-password-file",
    confirm: true,
  });
}

async function addSlot(
  context: CommandContext,
  repo: Repository,
  options: NewPassphraseOptions,
  cost: Omit<ScryptParams, "salt"> | undefined,
): Promise<string> {
  const secret = await readNewPassphrase(context, options);
  return repo.addKey(secret, cost);
}

export async function runKeyList(
  context: CommandContext,
  repository: string,
): Promise<KeySlotInfo[]> {
  return withRepository(context, repository, async ({ repo }) => {
    const slots = (await repo.store.listKeySlots()).map((slot): KeySlotInfo => {
      let params: ScryptParams;
      try {
        params = parseKeySlot(slot.bytes).params;
      } catch (error) {
        // Anyone who can write to the store can add one; listing must not fail on it.
        if (!isBlindsyncError(error)) throw error;
        return { name: slot.name, current: false, unreadable: error.message };
      }
      return {
        name: slot.name,
        current: slot.name === repo.keySlotName,
        kdf: "scrypt",
        logN: params.logN,
        r: params.r,
        p: params.p,
      };
    });
    const { output } = context;
    if (output.json) {
      output.jsonLine(slots);
    } else {
      for (const slot of slots) {
        if ("unreadable" in slot) {
          output.line(
            `  ${slot.name}  unreadable: ${slot.unreadable} (blindsync repair removes it)`,
          );
          continue;
        }
        output.line(
          `${slot.current ? "*" : " "} ${slot.name}  scrypt N=2^${slot.logN} r=${slot.r} p=${slot.p}${slot.current ? "  (opened by the current passphrase)" : ""}`,
        );
      }
    }
    return slots;
  });
}

export async function runKeyAdd(
  context: CommandContext,
  options: NewPassphraseOptions,
): Promise<string> {
  const cost = kdfCostFromEnv(context.env);
  return withRepository(context, options.repository, async ({ repo }) => {
    const name = await addSlot(context, repo, options, cost);
    if (context.output.json) context.output.jsonLine({ type: "key-add", name });
    else context.output.line(`Added key slot ${name}`);
    return name;
  });
}

export interface PasswdResult {
  readonly added: string;
  readonly removed: string;
}

/**
 * Changes the current passphrase: adds a slot for the new one, then removes the slot the
 * current one opened. In that order, a crash in between leaves two working passphrases, never
 * none.
 */
export async function runKeyPasswd(
  context: CommandContext,
  options: NewPassphraseOptions,
): Promise<PasswdResult> {
  const cost = kdfCostFromEnv(context.env);
  return withRepository(context, options.repository, async ({ repo }) => {
    if (repo.store.appendOnly) {
      throw new BlindsyncError(
        "append-only",
        "The repository is append-only: cannot remove the old key slot, so the passphrase cannot be changed",
        {
          hint: "Use `blindsync key add` to add a passphrase, or a connection that is not append-only",
        },
      );
    }
    const removed = repo.keySlotName;
    const added = await addSlot(context, repo, options, cost);
    try {
      await repo.store.removeKeySlot(removed);
    } catch (error) {
      if (error instanceof BlindsyncError) {
        throw new BlindsyncError(
          error.kind,
          `Added key slot ${added} for the new passphrase, but could not remove the old slot ${removed}: ${error.message}`,
          {
            hint: `Both passphrases work; retry with: blindsync key remove REPO ${removed}`,
            cause: error,
          },
        );
      }
      throw error;
    }
    if (context.output.json)
      context.output.jsonLine({ type: "key-passwd", added, removed });
    else
      context.output.line(
        `Changed the passphrase: added key slot ${added}, removed key slot ${removed}`,
      );
    return { added, removed };
  });
}

export interface KeyRemoveOptions {
  readonly repository: string;
  /** The slot's name, or a unique prefix of it. */
  readonly name: string;
}

export async function runKeyRemove(
  context: CommandContext,
  options: KeyRemoveOptions,
): Promise<string> {
  return withRepository(context, options.repository, async ({ repo }) => {
    const slots = await repo.store.listKeySlots();
    const exact = slots.find((slot) => slot.name === options.name);
    const matches =
      exact === undefined
        ? slots.filter((slot) => slot.name.startsWith(options.name))
        : [exact];
    const names = slots.map((slot) => slot.name).join(", ");
    if (matches.length === 0 || options.name === "")
      throw new BlindsyncError(
        "not-found",
        `No key slot "${options.name}" in this repository (slots: ${names})`,
      );
    if (matches.length > 1)
      throw new BlindsyncError(
        "usage",
        `"${options.name}" matches several key slots: ${matches.map((slot) => slot.name).join(", ")}`,
      );
    const name = (matches[0] as { name: string }).name;
    if (slots.length === 1)
      throw new BlindsyncError(
        "failed",
        `Cannot remove key slot ${name}: it is the last one, and without it the repository cannot be opened`,
        { hint: "Add another passphrase first with: blindsync key add REPO" },
      );
    await repo.store.removeKeySlot(name);
    if (context.output.json) {
      context.output.jsonLine({
        type: "key-remove",
        name,
        current: name === repo.keySlotName,
      });
    } else {
      context.output.line(`Removed key slot ${name}`);
    }
    if (name === repo.keySlotName)
      context.output.warn(
        `key slot ${name} was the one the current passphrase opened: that passphrase no longer opens the repository`,
      );
    return name;
  });
}

const newPassphraseHelp = `
The current passphrase comes from BLINDSYNC_PASSWORD, --password-file, --password-command or
a prompt. The new one comes from BLINDSYNC_NEW_PASSWORD, --new-password-file, or a prompt
asked twice.`;

/** The action of `key add` and `key passwd`: both take REPO and --new-password-file. */
function newPassphraseAction(
  run: (
    context: CommandContext,
    options: NewPassphraseOptions,
  ) => Promise<unknown>,
) {
  return async (
    repository: string,
    flags: { newPasswordFile?: string },
    command: Command,
  ): Promise<void> => {
    await run(contextOf(command), {
      repository,
      ...(flags.newPasswordFile === undefined
        ? {}
        : { newPasswordFile: flags.newPasswordFile }),
    });
  };
}

export function keyCommand(): Command {
  const list = new Command("list")
    .description(
      "list the key slots and their KDF cost; * marks the one in use",
    )
    .argument("<repo>", "the repository")
    .addHelpText(
      "after",
      `
With --json: an array of {name, current, kdf, logN, r, p}, or {name, current, unreadable}
for a slot no passphrase can open (malformed or out of bounds: \`blindsync repair\` removes it).

Examples:
  blindsync key list /mnt/usb/vault
  blindsync key list me@host:vault --json`,
    )
    .action(async (repository: string, _flags: unknown, command: Command) => {
      await runKeyList(contextOf(command), repository);
    });
  const add = new Command("add")
    .description(
      "add a passphrase (a new key slot); the current one keeps working",
    )
    .argument("<repo>", "the repository")
    .option("--new-password-file <file>", "read the new passphrase from a file")
    .addHelpText(
      "after",
      `${newPassphraseHelp}

Examples:
  blindsync key add /mnt/usb/vault                         (asks for the new one twice)
  blindsync key add me@host:vault --new-password-file ~/.config/vault-second`,
    )
    .action(newPassphraseAction(runKeyAdd));
  const passwd = new Command("passwd")
    .description(
      "change the current passphrase: add the new one, then remove the current one's slot",
    )
    .argument("<repo>", "the repository")
    .option("--new-password-file <file>", "read the new passphrase from a file")
    .addHelpText(
      "after",
      `${newPassphraseHelp}
Other passphrases (other key slots) keep working. The data is never re-encrypted.

Examples:
  blindsync key passwd /mnt/usb/vault
  BLINDSYNC_NEW_PASSWORD=... blindsync key passwd me@host:vault --password-file ~/.vault-old`,
    )
    .action(newPassphraseAction(runKeyPasswd));
  const remove = new Command("remove")
    .description("remove a key slot (never the last one)")
    .argument("<repo>", "the repository")
    .argument(
      "<name>",
      "the slot's name as `key list` shows it, or a unique prefix",
    )
    .addHelpText(
      "after",
      `
The last slot cannot be removed. Removing the slot of the passphrase you are using is
allowed when another slot exists (with a warning): use another passphrase afterwards.
An append-only connection (serve --append-only) refuses removal.

Examples:
  blindsync key list /mnt/usb/vault                         (the names, * for yours)
  blindsync key remove /mnt/usb/vault 3f2a9c01`,
    )
    .action(
      async (
        repository: string,
        name: string,
        _flags: unknown,
        command: Command,
      ) => {
        await runKeyRemove(contextOf(command), { repository, name });
      },
    );
  const key = new Command("key")
    .description("manage the passphrases (key slots) of a repository")
    .addHelpText(
      "after",
      `
Examples:
  blindsync key list /mnt/usb/vault
  BLINDSYNC_NEW_PASSWORD=... blindsync key add /mnt/usb/vault
  blindsync key passwd me@host:vault
  blindsync key remove /mnt/usb/vault 3f2a9c01`,
    );
  for (const sub of [list, add, passwd, remove]) {
    // program.ts sets exitOverride on top-level commands only; subcommands need their own so
    // that usage errors exit 2 through main() instead of process.exit inside commander.
    sub.exitOverride();
    key.addCommand(sub);
  }
  return key;
}
