/**
 * `blindsync forget` (retention policies, or snapshots named by id) and `blindsync prune` (space
 * back). Over 400 lines because the two forgets share their flags, their lock handling and
 * their report, and prune's summary is the tail of forget --prune's; split them only together.
 */
import { Command } from "commander";
import { BlindsyncError } from "../../errors.js";
import {
  describeHolders,
  forget,
  prune,
  type ForgetPolicy,
  type PolicyDecision,
  type PruneResult,
} from "../../engine/index.js";
import {
  isEmptyFilter,
  planSnapshotChanges,
  type SnapshotFilter,
  type UnlockedRepository,
} from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import { withRepository, type CommandContext } from "../context.js";
import { formatBytes, plural } from "../output/format.js";
import {
  addFilterOptions,
  filterOf,
  FILTER_RULES,
  type FilterOptionValues,
} from "./filter-options.js";
import {
  applyChanges,
  describeSnapshot,
  namedSnapshots,
  printRewritten,
  snapshotFields,
} from "./snapshot-changes.js";
import { collect, contextOf } from "./shared.js";

/** Parses "0", "90s", "10m", "2h" into milliseconds. */
export function parseWait(text: string): number {
  const match = /^(\d+)(s|m|h)?$/.exec(text.trim());
  if (match === null) {
    throw new BlindsyncError(
      "usage",
      `--lock-wait "${text}" is not a duration`,
      { hint: "For example 0, 90s, 10m or 2h" },
    );
  }
  const unit = match[2] === "h" ? 3_600_000 : match[2] === "m" ? 60_000 : 1000;
  return Number(match[1]) * unit;
}

function parseCount(
  flag: string,
  text: string | undefined,
): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text))
    throw new BlindsyncError(
      "usage",
      `--${flag} needs a whole number, not "${text}"`,
    );
  return Number(text);
}

interface PruneCommandOptions {
  readonly lockWaitMs: number;
  readonly dryRun?: boolean;
}

async function pruneUnlocked(
  context: CommandContext,
  unlocked: UnlockedRepository,
  options: PruneCommandOptions,
): Promise<PruneResult> {
  const { output } = context;
  let warned = false;
  const result = await prune({
    repo: unlocked.repo,
    lockWaitMs: options.lockWaitMs,
    dryRun: options.dryRun ?? false,
    sink: {
      progress(progress) {
        output.status(
          `Pruning: ${progress.phase}, ${progress.trees} trees marked, ${progress.deleted} blobs deleted`,
        );
      },
      waiting(holders) {
        const text = `Waiting for the repository lock: ${describeHolders(holders)}`;
        if (!warned) output.warn(text);
        warned = true;
        output.status(text);
      },
    },
  });
  output.endStatus();
  unlocked.cache.syncGeneration(result.generation);
  const verb = options.dryRun === true ? "Would delete" : "Deleted";
  if (output.json) {
    output.jsonLine({
      type: "prune",
      ...result,
      dryRun: options.dryRun ?? false,
    });
  } else {
    output.line(
      `${verb} ${plural(result.deletedBlobs, "unreferenced blob")} (${formatBytes(result.deletedBytes)}); ` +
        `kept ${plural(result.keptBlobs, "blob")} (${formatBytes(result.keptBytes)}) reachable from ${plural(result.snapshots, "snapshot")}`,
    );
  }
  return result;
}

async function pruneIfAsked(
  context: CommandContext,
  unlocked: UnlockedRepository,
  options: {
    readonly prune?: boolean;
    readonly dryRun?: boolean;
    readonly lockWaitMs: number;
  },
): Promise<void> {
  if (options.prune !== true) return;
  await pruneUnlocked(context, unlocked, {
    lockWaitMs: options.lockWaitMs,
    dryRun: options.dryRun ?? false,
  });
}

export async function runPrune(
  context: CommandContext,
  options: { repository: string } & PruneCommandOptions,
): Promise<PruneResult> {
  return withRepository(context, options.repository, (unlocked) =>
    pruneUnlocked(context, unlocked, options),
  );
}

export interface ForgetCommandOptions {
  readonly repository: string;
  readonly policy: ForgetPolicy;
  readonly filter?: SnapshotFilter;
  readonly dryRun?: boolean;
  readonly prune?: boolean;
  readonly lockWaitMs: number;
}

function printDecision(
  context: CommandContext,
  decision: PolicyDecision,
): void {
  const { snapshot } = decision;
  if (context.output.json) {
    context.output.jsonLine({
      type: "decision",
      id: toHex(snapshot.id),
      time: snapshot.time,
      host: snapshot.host,
      paths: snapshot.paths,
      tags: snapshot.tags,
      keep: decision.keep,
      reasons: decision.reasons,
    });
    return;
  }
  const reasons = decision.keep ? `  (${decision.reasons.join(", ")})` : "";
  context.output.line(
    `${decision.keep ? "keep  " : "remove"}  ${toHex(snapshot.id).slice(0, 8)}  ${snapshot.time.replace("T", " ").replace(/\.\d+Z$/, "Z")}  ${snapshot.host}  ${snapshot.paths.join(", ")}${reasons}`,
  );
}

export async function runForget(
  context: CommandContext,
  options: ForgetCommandOptions,
): Promise<void> {
  await withRepository(context, options.repository, async (unlocked) => {
    const base = {
      snapshots: unlocked.snapshots,
      policy: options.policy,
      now: new Date(),
      ...(options.filter === undefined ? {} : { filter: options.filter }),
    };
    const result = await forget({
      ...base,
      repo: unlocked.repo,
      dryRun: options.dryRun ?? false,
    });
    for (const decision of result.decisions) printDecision(context, decision);
    const kept = result.decisions.length - result.removed;
    const verb = options.dryRun === true ? "Would remove" : "Removed";
    if (context.output.json) {
      context.output.jsonLine({
        type: "summary",
        kept,
        removed: result.removed,
        dryRun: options.dryRun ?? false,
      });
    } else {
      context.output.line(
        `${verb} ${plural(result.removed, "snapshot")}, kept ${kept}`,
      );
    }
    await pruneIfAsked(context, unlocked, options);
  });
}

export interface ForgetNamedOptions {
  readonly repository: string;
  /** Snapshot ids, unique prefixes or "latest". */
  readonly ids: readonly string[];
  readonly dryRun?: boolean;
  readonly prune?: boolean;
  readonly lockWaitMs: number;
}

/**
 * `forget REPO ID...`: removes the named snapshots, keeping the head chain whole when the
 * head is among them (repo/snapshot-rewrite.ts), then prunes if asked.
 */
export async function runForgetNamed(
  context: CommandContext,
  options: ForgetNamedOptions,
): Promise<void> {
  const { output } = context;
  await withRepository(context, options.repository, async (unlocked) => {
    const doomed = namedSnapshots(unlocked.snapshots, options.ids);
    const plan = planSnapshotChanges(unlocked.snapshots, {
      remove: doomed,
      pinSeq: unlocked.cache.pin?.lastSeq ?? 0,
    });
    const dryRun = options.dryRun === true;
    for (const snapshot of doomed) {
      if (output.json)
        output.jsonLine({
          type: "decision",
          ...snapshotFields(snapshot),
          keep: false,
          reasons: ["named"],
        });
      else output.line(`remove  ${describeSnapshot(snapshot)}`);
    }
    if (dryRun) {
      for (const { from } of plan.write)
        if (!output.json)
          output.line(
            `Snapshot ${describeSnapshot(from)} would head the chain in place of the removed one, under a new id`,
          );
    } else {
      printRewritten(context, (await applyChanges(unlocked, plan)).written);
    }
    const kept = unlocked.snapshots.length - doomed.length;
    if (output.json)
      output.jsonLine({
        type: "summary",
        kept,
        removed: doomed.length,
        dryRun,
      });
    else
      output.line(
        `${dryRun ? "Would remove" : "Removed"} ${plural(doomed.length, "snapshot")}, kept ${kept}`,
      );
    await pruneIfAsked(context, unlocked, options);
  });
}

interface ForgetFlags {
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  keepTag: string[];
  dryRun?: boolean;
  prune?: boolean;
  lockWait: string;
}

export function policyFromFlags(flags: ForgetFlags): ForgetPolicy {
  const counts = {
    keepLast: parseCount("keep-last", flags.keepLast),
    keepHourly: parseCount("keep-hourly", flags.keepHourly),
    keepDaily: parseCount("keep-daily", flags.keepDaily),
    keepWeekly: parseCount("keep-weekly", flags.keepWeekly),
    keepMonthly: parseCount("keep-monthly", flags.keepMonthly),
    keepYearly: parseCount("keep-yearly", flags.keepYearly),
  };
  const policy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(counts))
    if (value !== undefined) policy[key] = value;
  if (flags.keepWithin !== undefined) policy.keepWithin = flags.keepWithin;
  if (flags.keepTag.length > 0) policy.keepTags = flags.keepTag;
  return policy;
}

const LOCK_WAIT_HELP =
  "how long prune waits for running backups to finish (0, 90s, 10m, 2h)";

/** Refuses snapshot ids beside a keep policy or filters: which one would win is a guess. */
function checkNamedForget(policy: ForgetPolicy, filter: SnapshotFilter): void {
  if (Object.keys(policy).length > 0) {
    throw new BlindsyncError(
      "usage",
      "Give either snapshot ids or a keep policy (--keep-...), not both",
      {
        hint: "blindsync forget REPO ID... removes those snapshots; blindsync forget REPO --keep-... applies the policy",
      },
    );
  }
  if (!isEmptyFilter(filter)) {
    throw new BlindsyncError(
      "usage",
      "--host, --path and --tag choose snapshots for a keep policy; snapshot ids name them already",
      { hint: "Give the ids alone, or the policy with the filters" },
    );
  }
}

export function forgetCommand(): Command {
  const command = new Command("forget")
    .description(
      "remove the named snapshots, or those a retention policy does not keep (restic's rules)",
    )
    .argument("<repo>", "the repository")
    .argument(
      "[ids...]",
      "snapshot ids (or unique prefixes) to remove, instead of a policy",
    )
    .option("--keep-last <n>", "keep the n newest snapshots")
    .option(
      "--keep-hourly <n>",
      "keep the newest snapshot of each of the last n hours that have one",
    )
    .option(
      "--keep-daily <n>",
      "keep the newest snapshot of each of the last n days that have one",
    )
    .option(
      "--keep-weekly <n>",
      "keep the newest snapshot of each of the last n ISO weeks that have one",
    )
    .option(
      "--keep-monthly <n>",
      "keep the newest snapshot of each of the last n months that have one",
    )
    .option(
      "--keep-yearly <n>",
      "keep the newest snapshot of each of the last n years that have one",
    )
    .option(
      "--keep-within <duration>",
      "keep every snapshot newer than this before the newest (e.g. 1y2m3d4h)",
    )
    .option(
      "--keep-tag <tags>",
      "keep snapshots with these tags (comma-separated: all of them; repeatable)",
      collect,
      [],
    )
    .option(
      "-n, --dry-run",
      "list what would be kept and removed, change nothing",
    )
    .option("--prune", "run prune afterwards to give the space back")
    .option("--lock-wait <duration>", LOCK_WAIT_HELP, "10m");
  return addFilterOptions(command, "apply the policy to")
    .addHelpText(
      "after",
      `
Named snapshots (ids or unique prefixes, as "blindsync snapshots" shows them) are removed as
named; they cannot be mixed with a policy or with filters. Removing the newest snapshot lets
the newest one left take its place at the head of the chain (under a new id), so no client
mistakes the removal for a rollback; removing every snapshot is refused.

Rules combine: a snapshot is kept when any rule keeps it, and the output says which.
Counts of -1 mean unlimited. Time buckets use UTC. Snapshots are grouped by host and paths,
and each group gets the policy on its own. The newest snapshot of the repository (the head of
the chain every client pins) is always kept. Forget removes snapshot records only; prune
deletes the data no snapshot needs any more.

${FILTER_RULES}

Examples:
  blindsync forget me@host:vault --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --prune
  blindsync forget /mnt/usb/vault --keep-last 3 --dry-run --json
  blindsync forget me@host:vault --keep-last 10 --host laptop --path ~/Documents
  blindsync forget me@host:vault 1a2b3c4d 5e6f7a8b --prune`,
    )
    .action(
      async (
        repository: string,
        ids: string[],
        flags: ForgetFlags & FilterOptionValues,
        command: Command,
      ) => {
        const policy = policyFromFlags(flags);
        const filter = filterOf(flags);
        const common = {
          repository,
          dryRun: flags.dryRun === true,
          prune: flags.prune === true,
          lockWaitMs: parseWait(flags.lockWait),
        };
        if (ids.length > 0) {
          checkNamedForget(policy, filter);
          await runForgetNamed(contextOf(command), { ...common, ids });
          return;
        }
        await runForget(contextOf(command), { ...common, policy, filter });
      },
    );
}

export function pruneCommand(): Command {
  return new Command("prune")
    .description("delete the data no snapshot needs and give the space back")
    .argument("<repo>", "the repository")
    .option("-n, --dry-run", "count what would be deleted, delete nothing")
    .option("--lock-wait <duration>", LOCK_WAIT_HELP, "10m")
    .addHelpText(
      "after",
      `
Prune takes the repository's exclusive lock: it waits (showing who holds the lock) while
backups run, and backups started during a prune fail with exit 11 and can simply be re-run.
A lock whose process died runs out by itself within minutes (no lease outlasts 5 minutes
without a refresh); blindsync unlock --remove-all removes a stuck one. Append-only servers
refuse prune.

Examples:
  blindsync prune me@host:vault
  blindsync prune /mnt/usb/vault --dry-run
  blindsync prune me@host:vault --lock-wait 1h              (wait longer for running backups)`,
    )
    .action(
      async (
        repository: string,
        flags: { dryRun?: boolean; lockWait: string },
        command: Command,
      ) => {
        await runPrune(contextOf(command), {
          repository,
          dryRun: flags.dryRun === true,
          lockWaitMs: parseWait(flags.lockWait),
        });
      },
    );
}
