/**
 * Forget: removes the snapshots a retention policy does not keep. The policy itself
 * (forget-policy.ts) is restic's; this module applies it per group of snapshots (same host
 * and paths, as restic groups by default) and deletes the snapshot records. Data blobs stay
 * until `prune`.
 *
 * The head of the chain (the highest sequence number) is always kept: it is what every
 * client pins, and removing it would look exactly like a rollback to them.
 */
import { BlindsyncError } from "../errors.js";
import {
  headOf,
  matchesFilter,
  NO_FILTER,
  type Repository,
  type Snapshot,
  type SnapshotFilter,
} from "../repo/index.js";
import { bytesEqual } from "../util/bytes.js";
import {
  applyPolicy,
  groupSnapshots,
  isEmptyPolicy,
  type ForgetPolicy,
  type PolicyDecision,
} from "./forget-policy.js";

export const HEAD_REASON = "head of the chain";

export interface ForgetOptions {
  readonly repo: Repository;
  readonly snapshots: readonly Snapshot[];
  readonly policy: ForgetPolicy;
  /** Only consider the snapshots this picks (`--host`, `--path`, `--tag`). */
  readonly filter?: SnapshotFilter;
  readonly dryRun?: boolean;
  readonly now?: Date;
}

export interface ForgetResult {
  /** One decision per considered snapshot, groups in order, newest first within each. */
  readonly decisions: readonly PolicyDecision[];
  readonly removed: number;
}

/** Decides without changing anything. */
export function planForget(
  options: Omit<ForgetOptions, "repo" | "dryRun">,
): PolicyDecision[] {
  if (isEmptyPolicy(options.policy)) {
    throw new BlindsyncError(
      "usage",
      "No retention policy given: nothing would be forgotten",
      {
        hint: "Give at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within, --keep-tag",
      },
    );
  }
  const head = headOf(options.snapshots);
  const filter = options.filter ?? NO_FILTER;
  const considered = options.snapshots.filter((snapshot) =>
    matchesFilter(filter, snapshot),
  );
  const decisions: PolicyDecision[] = [];
  for (const group of groupSnapshots(considered, { host: true, paths: true })) {
    for (const decision of applyPolicy(
      group,
      options.policy,
      options.now === undefined ? {} : { now: options.now },
    )) {
      if (
        head !== undefined &&
        bytesEqual(decision.snapshot.id, head.id) &&
        !decision.keep
      ) {
        decisions.push({ ...decision, keep: true, reasons: [HEAD_REASON] });
      } else {
        decisions.push(decision);
      }
    }
  }
  return decisions;
}

export async function forget(options: ForgetOptions): Promise<ForgetResult> {
  const decisions = planForget(options);
  const doomed = decisions
    .filter((decision) => !decision.keep)
    .map((decision) => decision.snapshot.id);
  if (options.dryRun !== true && doomed.length > 0)
    await options.repo.store.delete(doomed);
  return { decisions, removed: doomed.length };
}
