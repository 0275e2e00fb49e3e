/**
 * What `forget ID...` and `tag` share: naming snapshots by id, writing the planned records
 * (repo/snapshot-rewrite.ts) with this client's pin moved to a new head, and saying which
 * snapshot now has which id.
 */
import {
  advancePin,
  applySnapshotChanges,
  NO_FILTER,
  selectSnapshot,
  type RewritePlan,
  type RewriteResult,
  type Snapshot,
  type UnlockedRepository,
} from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import type { CommandContext } from "../context.js";

/** The snapshots `references` name (ids, unique prefixes or "latest"), each once, in order. */
export function namedSnapshots(
  snapshots: readonly Snapshot[],
  references: readonly string[],
): Snapshot[] {
  const named = new Map<string, Snapshot>();
  for (const reference of references) {
    const snapshot = selectSnapshot(snapshots, reference, NO_FILTER);
    named.set(toHex(snapshot.id), snapshot);
  }
  return [...named.values()];
}

/** Writes the plan, then moves this client's pin to the head it wrote, if it wrote one. */
export async function applyChanges(
  unlocked: UnlockedRepository,
  plan: RewritePlan,
): Promise<RewriteResult> {
  const result = await applySnapshotChanges(unlocked.repo, plan);
  if (result.head !== undefined)
    advancePin(unlocked.cache, unlocked.repo, result.head);
  return result;
}

export const shortId = (snapshot: Snapshot): string =>
  toHex(snapshot.id).slice(0, 8);

export function describeSnapshot(snapshot: Snapshot): string {
  const time = snapshot.time.replace("T", " ").replace(/\.\d+Z$/, "Z");
  const tags =
    snapshot.tags.length > 0 ? `  [${snapshot.tags.join(", ")}]` : "";
  return `${shortId(snapshot)}  ${time}  ${snapshot.host}  ${snapshot.paths.join(", ")}${tags}`;
}

/** The snapshot's fields for --json, as `snapshots --json` names them. */
export function snapshotFields(snapshot: Snapshot): Record<string, unknown> {
  return {
    id: toHex(snapshot.id),
    time: snapshot.time,
    host: snapshot.host,
    paths: snapshot.paths,
    tags: snapshot.tags,
  };
}

/** One line per record written anew: the old id, the new one, and why. */
export function printRewritten(
  context: CommandContext,
  written: RewriteResult["written"],
): void {
  for (const { from, to, reason } of written) {
    if (context.output.json) {
      context.output.jsonLine({
        type: "rewritten",
        reason,
        from: toHex(from.id),
        to: toHex(to.id),
        time: to.time,
        host: to.host,
        paths: to.paths,
        tags: to.tags,
      });
    } else if (reason === "new-head") {
      context.output.line(
        `Snapshot ${shortId(from)} now heads the chain in place of the removed one, as ${shortId(to)}`,
      );
    }
  }
}
