/**
 * Checking the snapshots a repository shows against this client's pin (cache/pin.ts): a
 * repository that shows less than the client has seen was rolled back, or forked away from
 * the history the client saw, and is refused (exit 14).
 *
 * Two things are checked. The head may not be older than the pinned one (its sequence number
 * only grows). And the pinned head may not vanish: it must still be there, or be reached from
 * the newest head by following each snapshot's previous head. A server cannot write
 * snapshots (it has no key), so a history without the pinned head is either an older copy of
 * the repository that other clients have since built on, or snapshots removed.
 *
 * `forget` removes snapshots legitimately, never the head it sees. Its gaps are handled so:
 * - the pinned head forgotten, and a later snapshot naming it as its previous one still
 *   there: found, by that name;
 * - the walk from the newest head reaches a snapshot whose previous one was forgotten while
 *   still above the pinned height: nothing below can be checked, and the walk accepts. A
 *   server can remove snapshots too; when it removes those in between as well as the pinned
 *   head, it is indistinguishable from a forget, and this check says nothing about it;
 * - the walk goes down to the pinned height or below without meeting the pinned head (a
 *   snapshot there that is another one, or a chain that starts above it): refused.
 */
import { BlindsyncError } from "../errors.js";
import { bytesEqual, toHex } from "../util/bytes.js";
import type { Pin } from "./cache/pin.js";
import { headOf, type Snapshot } from "./snapshot.js";

function rollback(message: string, cacheRoot: string): BlindsyncError {
  return new BlindsyncError("rollback", message, {
    hint: `If you restored or replaced the repository on purpose, accept it as it is now: blindsync accept-rollback REPO (this changes only its pin, in the cache under "${cacheRoot}")`,
  });
}

/** Where the walk down the head chain from `head` ended. */
type Walk =
  /** At the pinned head, or at a snapshot naming it as its previous one. */
  | { readonly kind: "reached" }
  /** At a previous snapshot that is gone (forgotten) above the pinned height. */
  | { readonly kind: "gap" }
  /** At or below the pinned height without meeting the pinned head. */
  | { readonly kind: "passed"; readonly at: Snapshot };

/** Follows previous ids down from `head` until it meets the pinned head or cannot go on. */
export function walkToPin(
  head: Snapshot,
  pinned: { readonly seq: number; readonly id: Uint8Array },
  snapshots: readonly Snapshot[],
): Walk {
  const byId = new Map(
    snapshots.map((snapshot) => [toHex(snapshot.id), snapshot]),
  );
  let current = head;
  for (;;) {
    if (bytesEqual(current.id, pinned.id)) return { kind: "reached" };
    if (current.seq <= pinned.seq) return { kind: "passed", at: current };
    if (current.previous === null) return { kind: "passed", at: current };
    if (bytesEqual(current.previous, pinned.id)) return { kind: "reached" };
    const previous = byId.get(toHex(current.previous));
    if (previous === undefined) return { kind: "gap" };
    // Each step must go down, or a forged record could make the walk go round for ever.
    if (previous.seq >= current.seq) return { kind: "passed", at: previous };
    current = previous;
  }
}

/**
 * Throws (rollback) when the snapshots a repository shows are older than what this client
 * has seen, or when the head this client pinned has vanished from the history it shows.
 */
export function checkHead(
  pin: Pin,
  snapshots: readonly Snapshot[],
  cacheRoot: string,
): void {
  const head = headOf(snapshots);
  const seq = head?.seq ?? 0;
  if (seq < pin.lastSeq) {
    throw rollback(
      `The repository shows head ${seq} but this client has seen head ${pin.lastSeq}: it was rolled back or snapshots were removed`,
      cacheRoot,
    );
  }
  const pinnedId = pin.lastHeadId;
  if (head === undefined || pinnedId === null) return;
  // Still there (at its height, or beside a newer head written by a concurrent backup).
  if (snapshots.some((snapshot) => bytesEqual(snapshot.id, pinnedId))) return;
  const short = toHex(pinnedId).slice(0, 8);
  if (seq === pin.lastSeq) {
    throw rollback(
      `The repository's head ${seq} is not the snapshot ${short} this client has seen`,
      cacheRoot,
    );
  }
  const walk = walkToPin(head, { seq: pin.lastSeq, id: pinnedId }, snapshots);
  if (walk.kind === "passed") {
    throw rollback(
      `The snapshot ${short} (head ${pin.lastSeq}) this client has seen is gone, and the repository's head ${seq} does not descend from it (its history reaches ${walk.at.seq} through ${toHex(walk.at.id).slice(0, 8)}): the repository was rolled back and written over, or forked`,
      cacheRoot,
    );
  }
}
