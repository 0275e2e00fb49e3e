/**
 * Which snapshots a copy writes, and which it skips because the destination already holds a
 * copy of them, with restic's rule: every copy records the id of the snapshot it was first
 * made from (`original`, carried along when a copy is copied again), and a source snapshot is
 * already copied when a destination snapshot names the same original (or is that original,
 * when copying back) and says the same about the backup: time, host, user, paths and tags.
 * Tags changed since the copy make it a different snapshot, copied again, as restic does.
 */
import { compareChainOrder, type Snapshot } from "../repo/index.js";
import { toHex } from "../util/bytes.js";

export interface CopyPlan {
  /** The snapshots to copy, oldest first in the source's chain order. */
  readonly copy: readonly Snapshot[];
  /** Those the destination holds already, with the copy found there. */
  readonly skip: readonly {
    readonly snapshot: Snapshot;
    readonly copy: Snapshot;
  }[];
}

/** The id a snapshot and all its copies share. */
export function originalOf(snapshot: Snapshot): Uint8Array {
  return snapshot.original ?? snapshot.id;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, index) => item === b[index]);
}

/** Everything a copy keeps but the tree (whose id depends on the keys) and the chain fields. */
function sameBackup(a: Snapshot, b: Snapshot): boolean {
  return (
    a.time === b.time &&
    a.host === b.host &&
    a.username === b.username &&
    sameList(a.paths, b.paths) &&
    sameList(a.tags, b.tags)
  );
}

export function planCopy(
  selected: readonly Snapshot[],
  destination: readonly Snapshot[],
): CopyPlan {
  const byOriginal = new Map<string, Snapshot[]>();
  const index = (key: Uint8Array, snapshot: Snapshot): void => {
    const hex = toHex(key);
    byOriginal.set(hex, [...(byOriginal.get(hex) ?? []), snapshot]);
  };
  for (const snapshot of destination) {
    if (snapshot.original !== undefined) index(snapshot.original, snapshot);
    // A snapshot copied back to the repository it came from names one written there.
    index(snapshot.id, snapshot);
  }
  const copy: Snapshot[] = [];
  const skip: CopyPlan["skip"][number][] = [];
  for (const snapshot of [...selected].sort(compareChainOrder)) {
    const found = byOriginal
      .get(toHex(originalOf(snapshot)))
      ?.find((candidate) => sameBackup(candidate, snapshot));
    if (found === undefined) copy.push(snapshot);
    else skip.push({ snapshot, copy: found });
  }
  return { copy, skip };
}
