/**
 * Repair: removes the records that no passphrase can ever use: snapshot blobs that do not
 * authenticate under this repository's keys (anyone who can write to the store can add them,
 * without the passphrase), snapshot blobs that authenticate but do not decode (a key holder's
 * forgery: no client can read them), and key slots that are not key slots at all (malformed,
 * or KDF parameters out of bounds). Every other command skips them with a warning and `check`
 * names them; this is the one that deletes them.
 *
 * What it never removes: a snapshot any client can read (`forget` is the way to remove it),
 * and a key slot that parses, even one no passphrase at hand opens: it may be another user's.
 * The classification is made again right before deleting.
 */
import { BlindsyncError } from "../errors.js";
import type {
  Repository,
  UndecodableSnapshot,
  UnreadableKeySlot,
} from "../repo/index.js";

export interface RepairOptions {
  readonly repo: Repository;
  /** Name what would be removed without removing it. */
  readonly dryRun?: boolean;
}

export interface RepairResult {
  readonly undecodableSnapshots: readonly UndecodableSnapshot[];
  readonly unreadableKeySlots: readonly UnreadableKeySlot[];
  /** False for a dry run. */
  readonly removed: boolean;
}

export async function repair(options: RepairOptions): Promise<RepairResult> {
  const { repo } = options;
  const dryRun = options.dryRun === true;
  // Refused up front, as prune is: a repair that cannot delete must not look like "nothing to do".
  if (repo.store.appendOnly && !dryRun) {
    throw new BlindsyncError(
      "append-only",
      "The repository is append-only: cannot remove damaged records",
      {
        hint: "Run blindsync repair over a connection that is not append-only (a key whose forced command lacks --append-only); --dry-run lists what it would remove",
      },
    );
  }
  const { undecodable } = await repo.readSnapshots();
  const slots = await repo.unreadableKeySlots();
  if (!dryRun) {
    if (undecodable.length > 0)
      await repo.store.delete(undecodable.map((blob) => blob.id));
    // One at a time: the store refuses to remove the last slot, and the slot that opened this
    // repository parses, so it is never among these.
    for (const slot of slots) await repo.store.removeKeySlot(slot.name);
  }
  return {
    undecodableSnapshots: undecodable,
    unreadableKeySlots: slots,
    removed: !dryRun,
  };
}
