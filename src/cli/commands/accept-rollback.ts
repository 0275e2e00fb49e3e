/**
 * `blindsync accept-rollback REPO [--yes]`: trust a repository again as it is now, after it was
 * restored on purpose from an older copy (or replaced), which this client refuses with exit 14.
 * Before, the only way out was deleting the whole client cache, every repository's pin with it.
 *
 * It touches one location's files only: the passphrase must open the repository first (so the
 * pin moves only to a repository the user can read), a backup of it from this cache must not be
 * running, the cache's knowledge of stored blobs, files and directories is forgotten (an older
 * copy lacks blobs uploaded since: a backup that trusted that knowledge would reference blobs
 * that are gone), and then the pin is replaced by what the repository shows, in that order (a
 * crash in between leaves the old pin, and exit 14 asks again).
 */
import { createInterface } from "node:readline/promises";
import { Command } from "commander";
import { BlindsyncError, isBlindsyncError } from "../../errors.js";
import {
  acquireBackupLock,
  checkHead,
  ClientCache,
  headOf,
  readConnectionHints,
  readPin,
  Repository,
  type Pin,
  type Snapshot,
} from "../../repo/index.js";
import { resolveLocation } from "../../store/index.js";
import { bytesEqual, toHex } from "../../util/bytes.js";
import {
  cacheRoot,
  openLocation,
  passphrase,
  type CommandContext,
} from "../context.js";
import { contextOf } from "./shared.js";

export interface AcceptRollbackOptions {
  readonly repository: string;
  /** Accept without asking (scripts; required without a terminal). */
  readonly yes?: boolean;
  /** Asks the user; absent when there is no terminal to ask on. */
  readonly confirm?: ((question: string) => Promise<boolean>) | undefined;
}

export type AcceptRollbackResult =
  | { readonly accepted: false; readonly reason: "no-pin" | "in-step" }
  | { readonly accepted: true; readonly pin: Pin };

function short(id: Uint8Array | null): string {
  return id === null ? "none" : toHex(id).slice(0, 8);
}

function describeHead(head: Snapshot | undefined): string {
  return head === undefined
    ? "no snapshot"
    : `head ${head.seq} (snapshot ${short(head.id)})`;
}

/** What differs between the pin and the repository, in a sentence; undefined when nothing. */
function whatDiffers(
  pin: Pin,
  repo: Repository,
  snapshots: readonly Snapshot[],
  root: string,
): string | undefined {
  if (!bytesEqual(pin.repositoryId, repo.id))
    return `it is another repository (id ${short(repo.id)}) than the one this client has used (id ${short(pin.repositoryId)})`;
  if (!bytesEqual(pin.keyCheckValue, repo.keyCheckValue))
    return "it has other keys than the ones this client has used";
  try {
    checkHead(pin, snapshots, root);
    return undefined;
  } catch (error) {
    if (!isBlindsyncError(error, "rollback")) throw error;
    return `it shows ${describeHead(headOf(snapshots))}, but this client has seen head ${pin.lastSeq} (snapshot ${short(pin.lastHeadId)})`;
  }
}

export async function runAcceptRollback(
  context: CommandContext,
  options: AcceptRollbackOptions,
): Promise<AcceptRollbackResult> {
  const { output } = context;
  const location = resolveLocation(options.repository);
  const root = cacheRoot(context);
  const pin = readPin(root, location.key);
  if (pin === undefined) {
    output.line(
      `This client has no pin for "${options.repository}": it trusts the repository as it is at its next use, nothing to accept`,
    );
    return { accepted: false, reason: "no-pin" };
  }
  const store = await openLocation(context, location, "open");
  try {
    const repo = await Repository.open(
      store,
      await passphrase(context)(),
      undefined,
      {
        preference: {
          bytes: readConnectionHints(root, location.key).keySlot,
          name: context.env.BLINDSYNC_KEY_SLOT,
        },
        onWarning: (message) => {
          output.warn(message);
        },
      },
    );
    const snapshots = await repo.listSnapshots();
    const differs = whatDiffers(pin, repo, snapshots, root);
    if (differs === undefined) {
      output.line(
        `"${options.repository}" shows ${describeHead(headOf(snapshots))}, in step with what this client has seen: nothing to accept`,
      );
      return { accepted: false, reason: "in-step" };
    }
    output.warn(
      `The repository at "${options.repository}" is not what this client last saw: ${differs}.`,
    );
    output.warn(
      "Accepting moves this client's pin back to what the repository shows now, and the next backup builds on it. Do it only if you restored or replaced the repository yourself: if someone else did (whoever controls the storage can put an older copy back), accepting lets that rollback go unnoticed, and the snapshots missing from the copy stay missing.",
    );
    if (options.yes !== true) {
      if (options.confirm === undefined)
        throw new BlindsyncError(
          "usage",
          "accept-rollback needs a terminal to ask on, or --yes",
          {
            hint: `blindsync accept-rollback --yes ${options.repository}`,
          },
        );
      if (
        !(await options.confirm("Accept the repository as it is now? [y/N] "))
      )
        throw new BlindsyncError("failed", "Not accepted: nothing changed");
    }
    const head = headOf(snapshots);
    const accepted: Pin = {
      repositoryId: repo.id,
      keyCheckValue: repo.keyCheckValue,
      lastSeq: head?.seq ?? 0,
      lastHeadId: head?.id ?? null,
      generation: await store.generation(),
    };
    // Not beside a backup of this location from this cache: it would record blobs as stored
    // (and advance the pin) from the history being set aside.
    const lock = await acquireBackupLock(root, location.key, {
      location: options.repository,
    });
    try {
      const cache = ClientCache.open(root, location.key);
      try {
        cache.invalidateBlobs();
        cache.resetPin(accepted);
        cache.saveKeySlotHint(repo.keySlotBytes);
      } finally {
        cache.close();
      }
    } finally {
      lock.release();
    }
    if (output.json)
      output.jsonLine({
        type: "accept-rollback",
        repository: options.repository,
        id: toHex(repo.id),
        head: head === undefined ? null : toHex(head.id),
        seq: head?.seq ?? 0,
      });
    else
      output.line(
        `Accepted: this client now trusts "${options.repository}" at ${describeHead(head)}; its cache of stored blobs was cleared, so the next backup reads every file again`,
      );
    return { accepted: true, pin: accepted };
  } finally {
    await store.close();
  }
}

/** Asks on the terminal; undefined when stdin or stderr is not one. */
function terminalConfirm():
  ((question: string) => Promise<boolean>) | undefined {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  return async (question) => {
    const lines = createInterface({
      input: process.stdin,
      output: process.stderr,
    });
    try {
      return /^y(es)?$/i.test((await lines.question(question)).trim());
    } finally {
      lines.close();
    }
  };
}

export function acceptRollbackCommand(): Command {
  return new Command("accept-rollback")
    .description(
      "trust a repository again as it is now, after restoring it from an older copy on purpose",
    )
    .argument("<repo>", "the repository")
    .option("-y, --yes", "accept without asking (needed without a terminal)")
    .addHelpText(
      "after",
      `
blindsync remembers, per repository and client cache, the newest snapshot it has seen (the
pin), and refuses with exit 14 a repository that shows less: that is how it notices a server
rolling the repository back to an older state. When you restored the repository from an
older copy yourself, this command moves that one repository's pin back to what it now shows,
after the passphrase has opened it; other repositories' pins are not touched. It also
forgets which blobs this cache believed stored, since an older copy lacks the newer ones.

If you did not restore the repository yourself, do not accept: a real rollback attack would
then go unnoticed.

Examples:
  blindsync accept-rollback /mnt/usb/vault          (asks before changing anything)
  blindsync accept-rollback --yes me@host:vault`,
    )
    .action(
      async (
        repository: string,
        flags: { yes?: boolean },
        command: Command,
      ) => {
        await runAcceptRollback(contextOf(command), {
          repository,
          yes: flags.yes === true,
          confirm: terminalConfirm(),
        });
      },
    );
}
