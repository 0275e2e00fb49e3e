/**
 * `blindsync repair REPO [--dry-run]`: removes snapshot blobs that do not authenticate under
 * the repository's keys and key slots that are not key slots at all (engine/repair.ts), the
 * records a connection without the passphrase can add and every other command skips.
 */
import { Command } from "commander";
import { repair, type RepairResult } from "../../engine/index.js";
import { toHex } from "../../util/bytes.js";
import { plural } from "../output/format.js";
import { withRepository, type CommandContext } from "../context.js";
import { contextOf } from "./shared.js";

export interface RepairCommandOptions {
  readonly repository: string;
  readonly dryRun?: boolean;
}

export async function runRepair(
  context: CommandContext,
  options: RepairCommandOptions,
): Promise<RepairResult> {
  const dryRun = options.dryRun === true;
  const { output } = context;
  const result = await withRepository(context, options.repository, ({ repo }) =>
    repair({ repo, dryRun }),
  );
  const verb = dryRun ? "would remove" : "removed";
  for (const blob of result.undecodableSnapshots) {
    const id = toHex(blob.id);
    if (output.json)
      output.jsonLine({
        type: "snapshot-blob",
        id,
        reason: blob.reason,
        dryRun,
      });
    else output.line(`${verb} snapshot blob ${id}: ${blob.reason}`);
  }
  for (const slot of result.unreadableKeySlots) {
    if (output.json)
      output.jsonLine({
        type: "key-slot",
        name: slot.name,
        reason: slot.reason,
        dryRun,
      });
    else output.line(`${verb} key slot ${slot.name}: ${slot.reason}`);
  }
  const snapshots = result.undecodableSnapshots.length;
  const slots = result.unreadableKeySlots.length;
  if (output.json) {
    output.jsonLine({
      type: "summary",
      snapshotBlobs: snapshots,
      keySlots: slots,
      dryRun,
    });
  } else if (snapshots + slots === 0) {
    output.line(
      "Nothing to repair: every snapshot blob and key slot is readable",
    );
  } else {
    output.line(
      `${dryRun ? "Would remove" : "Removed"} ${plural(snapshots, "undecodable snapshot blob")} and ${plural(slots, "unreadable key slot")}`,
    );
  }
  return result;
}

export function repairCommand(): Command {
  return new Command("repair")
    .description(
      "remove snapshot blobs and key slots that no passphrase can read (what check reports)",
    )
    .argument("<repo>", "the repository")
    .option("--dry-run", "name what would be removed, remove nothing")
    .addHelpText(
      "after",
      `
Anyone who can write to the repository, even without the passphrase (an append-only
connection), can add a snapshot blob that does not authenticate under the repository's keys
or a key slot that is not a key slot at all; someone holding the keys can add a snapshot
blob that authenticates but does not decode. Every command skips those with a warning and
check names them; repair removes them. It never removes a snapshot any client can read (use
forget) nor a key slot that parses, even one your passphrase does not open: it may be
someone else's (see key list and key remove).

Needs a connection that is not append-only (exit 1 otherwise); --dry-run works on any.

Examples:
  blindsync repair --dry-run me@host:vault
  blindsync repair /mnt/usb/vault`,
    )
    .action(
      async (
        repository: string,
        flags: { dryRun?: boolean },
        command: Command,
      ) => {
        await runRepair(contextOf(command), {
          repository,
          ...(flags.dryRun === true ? { dryRun: true } : {}),
        });
      },
    );
}
