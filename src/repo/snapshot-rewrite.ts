/**
 * Removing snapshots by name and changing their tags without breaking the head chain.
 *
 * A snapshot's id is the keyed hash of its record, so new tags mean a new record: as restic
 * does, the changed snapshot is written anew and the old record removed (new first, so its
 * tree is never unreferenced, even to a prune running beside). What the new record's place in
 * the chain must be follows from the pin (pin-check.ts), which every client holds on the head
 * it last saw:
 *
 * - below the head's height, the new record keeps `seq` and `previous`: it stays where it
 *   was, so `latest` and the next backup do not change. A later snapshot that named the old
 *   record as `previous` now names a missing one: the gap a `forget` leaves, which the pin
 *   walk accepts above a pinned height and which still finds a pinned old record by name;
 * - at the head's height (the head, or a concurrent backup's record beside it), the new record
 *   goes on top: `seq` one above the head (and above this client's pin), `previous` the old
 *   record's id. A client that pinned the old record finds it named there; one that pinned
 *   the head beside it sees a newer head. Keeping the height instead would show every client
 *   that pinned it a head of the same height that is not theirs: a rollback (exit 14).
 *
 * Removing the head itself would look like a rollback to every client, so the newest
 * snapshot left in the chain takes its place: rewritten on top, `previous` naming the removed
 * head, and its old record removed. `latest` is then what it was before the removed backup,
 * under a new id. Removing every snapshot of the chain is refused: no head would be left for
 * the pins to find.
 */
import { BlindsyncError } from "../errors.js";
import { toHex } from "../util/bytes.js";
import type { BlobId } from "../store/index.js";
import type { Repository } from "./repository.js";
import { assessChain, type Snapshot, type SnapshotRecord } from "./snapshot.js";

export interface SnapshotChanges {
  /** Snapshots to remove. */
  readonly remove?: readonly Snapshot[];
  /** Snapshots to write again with these tags (none of them in `remove`). */
  readonly retag?: readonly {
    readonly snapshot: Snapshot;
    readonly tags: readonly string[];
  }[];
  /** This client's pinned height: a record written on top goes above it too. */
  readonly pinSeq?: number;
}

/** One record written in place of another. */
export interface PlannedRewrite {
  readonly from: Snapshot;
  readonly record: SnapshotRecord;
  /** Why: new tags, or taking the place of a removed head. */
  readonly reason: "retag" | "new-head";
  /** Written above the head: the new head when it is the last such one. */
  readonly onTop: boolean;
}

export interface RewritePlan {
  readonly remove: readonly Snapshot[];
  readonly write: readonly PlannedRewrite[];
}

export interface RewriteResult {
  readonly removed: readonly Snapshot[];
  readonly written: readonly {
    readonly from: Snapshot;
    readonly to: Snapshot;
    readonly reason: PlannedRewrite["reason"];
  }[];
  /** The new head, when one was written (the caller advances its pin to it). */
  readonly head: Snapshot | undefined;
}

const hex = (snapshot: Snapshot): string => toHex(snapshot.id);

function withoutId(snapshot: Snapshot): SnapshotRecord {
  const record: SnapshotRecord & { id?: BlobId } = { ...snapshot };
  delete record.id;
  return record;
}

/** Decides the records to write and remove; writes nothing. */
export function planSnapshotChanges(
  snapshots: readonly Snapshot[],
  changes: SnapshotChanges,
): RewritePlan {
  const { chain } = assessChain(snapshots);
  const head = chain.at(-1);
  const removing = new Set((changes.remove ?? []).map(hex));
  const tagsOf = new Map(
    (changes.retag ?? []).map(({ snapshot, tags }) => [hex(snapshot), tags]),
  );
  for (const id of tagsOf.keys())
    if (removing.has(id))
      throw new TypeError(`snapshot ${id} is both removed and retagged`);
  // The record taking the place of a removed head, and the records at the head's height.
  let successor: Snapshot | undefined;
  if (head !== undefined && removing.has(hex(head))) {
    successor = chain.filter((snapshot) => !removing.has(hex(snapshot))).at(-1);
    if (successor === undefined) {
      throw new BlindsyncError(
        "usage",
        "Not removing every snapshot of the head chain: with no head left, every client that has seen one would take the repository for rolled back (exit 14)",
        {
          hint: "Keep at least one snapshot (back up again first if none should stay), or create a new repository",
        },
      );
    }
  }
  let top = Math.max(head?.seq ?? 0, changes.pinSeq ?? 0);
  const inPlace: PlannedRewrite[] = [];
  const onTop: PlannedRewrite[] = [];
  // Chain order (suspicious snapshots after), so records put on top keep their order.
  const ordered = [
    ...chain,
    ...snapshots.filter((snapshot) => !chain.includes(snapshot)),
  ];
  for (const snapshot of ordered) {
    const tags = tagsOf.get(hex(snapshot));
    const isSuccessor = snapshot === successor;
    if (tags === undefined && !isSuccessor) continue;
    const record = { ...withoutId(snapshot), tags: tags ?? snapshot.tags };
    const atHeadHeight =
      head !== undefined &&
      chain.includes(snapshot) &&
      snapshot.seq >= head.seq;
    if (isSuccessor || atHeadHeight) {
      top += 1;
      onTop.push({
        from: snapshot,
        record: {
          ...record,
          seq: top,
          previous: isSuccessor && head !== undefined ? head.id : snapshot.id,
        },
        reason: isSuccessor ? "new-head" : "retag",
        onTop: true,
      });
    } else {
      inPlace.push({ from: snapshot, record, reason: "retag", onTop: false });
    }
  }
  return { remove: changes.remove ?? [], write: [...inPlace, ...onTop] };
}

/**
 * Applies a plan: writes every new record, then removes the old ones and those to remove in
 * one call, so an interruption leaves at worst both records of one snapshot, never none.
 */
export async function applySnapshotChanges(
  repo: Repository,
  plan: RewritePlan,
): Promise<RewriteResult> {
  if (
    repo.store.appendOnly &&
    (plan.write.length > 0 || plan.remove.length > 0)
  ) {
    // Refused before the first write: a new record whose old one cannot go would list the
    // snapshot twice.
    throw new BlindsyncError(
      "append-only",
      "This connection is append-only: it cannot remove snapshots or change their tags",
      { hint: "Run it over a connection (ssh key) that is not append-only" },
    );
  }
  const written: RewriteResult["written"][number][] = [];
  let head: Snapshot | undefined;
  for (const rewrite of plan.write) {
    const to = await repo.saveSnapshot(rewrite.record);
    written.push({ from: rewrite.from, to, reason: rewrite.reason });
    if (rewrite.onTop) head = to;
  }
  const doomed = [
    ...plan.remove.map((snapshot) => snapshot.id),
    ...plan.write.map((rewrite) => rewrite.from.id),
  ];
  if (doomed.length > 0) await repo.store.delete(doomed);
  return { removed: plan.remove, written, head };
}
