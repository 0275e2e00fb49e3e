/**
 * The retention policy of `blindsync forget`: which snapshots a set of --keep-* rules keeps, and
 * why. A pure function over snapshot records, so the CLI can show a dry run that is exactly what
 * a real run removes.
 *
 * The semantics are restic's (ApplyPolicy in internal/data/snapshot_policy.go, 0.17 and later,
 * and doc/060_forget.rst), so users can carry their restic policies over unchanged:
 *
 * - Snapshots are taken newest first. Every rule sees every snapshot; a snapshot is kept when at
 *   least one rule keeps it, and its reasons list every rule that did.
 * - keep-last N keeps the N newest snapshots.
 * - keep-hourly/daily/weekly/monthly/yearly N keep a snapshot when it is the newest one of an
 *   hour (day, ISO week, month, year) not seen yet, while the rule has count left. Only periods
 *   that hold a snapshot count. -1 means unlimited.
 * - When a rule still has count left at the oldest snapshot of the list, that snapshot is kept
 *   too even if its period was already seen, with the reason prefixed by "oldest" (restic#3624,
 *   restic#5039): a young repository keeps its longest history instead of losing it.
 * - keep-within D keeps every snapshot strictly newer than (reference − D), where the reference
 *   is the newest snapshot's time, and years, months and days are subtracted on the calendar
 *   before hours (Go's AddDate: 31 March minus one month is 2 or 3 March).
 * - keep-tag "a,b" keeps snapshots that carry all of a and b; "" matches untagged snapshots.
 *
 * One deliberate difference: restic buckets by the local time of the machine running forget, so
 * the same repository prunes differently in different time zones. blindsync buckets by UTC, so a
 * policy keeps the same snapshots wherever it runs.
 *
 * Over 400 lines because each of restic's rules sits beside the comment that says how it
 * matches restic's, which is the point of this file.
 */
import { BlindsyncError } from "../errors.js";
import type { Snapshot } from "../repo/index.js";

export interface ForgetPolicy {
  /** Counts are 0 (rule off), a positive number, or -1 for unlimited. */
  readonly keepLast?: number;
  readonly keepHourly?: number;
  readonly keepDaily?: number;
  readonly keepWeekly?: number;
  readonly keepMonthly?: number;
  readonly keepYearly?: number;
  /** A duration such as "1y2m3d4h", relative to the newest snapshot's time. */
  readonly keepWithin?: string;
  /** Each entry is a restic tag list: "a,b" keeps snapshots having both a and b. */
  readonly keepTags?: readonly string[];
}

export interface PolicyDecision {
  snapshot: Snapshot;
  keep: boolean;
  /** Why the snapshot is kept, in restic's words; empty exactly when it is removed. */
  reasons: string[];
}

export interface PolicyDuration {
  readonly years: number;
  readonly months: number;
  readonly days: number;
  readonly hours: number;
}

export interface ApplyPolicyOptions {
  /**
   * The time forget runs. restic ignores snapshots dated after it when choosing the reference
   * for keep-within, so a clock-skewed or forged future snapshot cannot push every real one out
   * of the window. Without it the newest snapshot is the reference, whatever its date.
   */
  readonly now?: Date;
}

/** Reason restic gives when there is no rule at all and everything stays. */
export const EMPTY_POLICY_REASON = "policy is empty";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const DURATION_HINT =
  'a duration is a number of years, months, days and hours such as "1y2m3d4h"';

/** Parses restic's duration format: numbers each followed by y, m, d or h, in any order. */
export function parseDuration(text: string): PolicyDuration {
  const duration = { years: 0, months: 0, days: 0, hours: 0 };
  let rest = text.trim();
  while (rest !== "") {
    const match = /^(-?)(\d+)/.exec(rest);
    if (match === null) {
      throw badDuration(text, "no number found");
    }
    if (match[1] === "-") {
      throw badDuration(text, "negative values are not allowed");
    }
    const value = Number(match[2]);
    if (!Number.isSafeInteger(value)) {
      throw badDuration(text, `${match[2] ?? ""} is too large`);
    }
    rest = rest.slice(match[0].length);
    const unit = rest.charAt(0);
    // As in restic, a repeated unit overrides the earlier one rather than adding to it.
    switch (unit) {
      case "y":
        duration.years = value;
        break;
      case "m":
        duration.months = value;
        break;
      case "d":
        duration.days = value;
        break;
      case "h":
        duration.hours = value;
        break;
      case "":
        throw badDuration(text, `no unit found after number ${value}`);
      default:
        throw badDuration(
          text,
          `invalid unit "${unit}" found after number ${value}`,
        );
    }
    rest = rest.slice(1);
  }
  return duration;
}

/** True when the policy has no rule: forget must then refuse rather than guess. */
export function isEmptyPolicy(policy: ForgetPolicy): boolean {
  return normalizePolicy(policy).empty;
}

/**
 * Decides, for every snapshot of one group, whether the policy keeps it. Returns one decision
 * per snapshot, newest first. An empty policy keeps everything; callers are expected to refuse
 * it up front with isEmptyPolicy(). Throws a usage BlindsyncError for a malformed policy.
 */
export function applyPolicy(
  snapshots: readonly Snapshot[],
  policy: ForgetPolicy,
  options: ApplyPolicyOptions = {},
): PolicyDecision[] {
  const rules = normalizePolicy(policy);
  const ordered = newestFirst(snapshots);
  if (rules.empty) {
    return ordered.map(({ snapshot }) => ({
      snapshot,
      keep: true,
      reasons: [EMPTY_POLICY_REASON],
    }));
  }

  const within =
    rules.within === undefined
      ? undefined
      : {
          cutoff: subtractDuration(
            referenceTime(ordered, options.now),
            rules.within,
          ),
          reason: `within ${formatDuration(rules.within)}`,
        };
  const buckets = rules.counts.map((rule) => ({
    ...rule,
    left: rule.count,
    last: undefined as number | undefined,
  }));

  return ordered.map(({ snapshot, ms }, index) => {
    const reasons: string[] = [];
    for (const tagList of rules.tagLists) {
      if (hasTags(snapshot, tagList)) {
        reasons.push(`has tags [${tagList.join(", ")}]`);
      }
    }
    if (within !== undefined && ms > within.cutoff) {
      reasons.push(within.reason);
    }
    const oldest = index === ordered.length - 1;
    for (const bucket of buckets) {
      if (bucket.left === 0) continue;
      const period = bucket.period(ms, index);
      if (period !== bucket.last || oldest) {
        reasons.push(
          period === bucket.last ? `oldest ${bucket.reason}` : bucket.reason,
        );
        bucket.last = period;
        if (bucket.left > 0) bucket.left -= 1;
      }
    }
    return { snapshot, keep: reasons.length > 0, reasons };
  });
}

/**
 * Splits snapshots into the groups a policy applies to separately, as restic's --group-by:
 * by host and/or by the set of source paths (order of paths does not matter). Groups come
 * sorted by host, then paths; each keeps the input order of its snapshots.
 */
export function groupSnapshots(
  snapshots: readonly Snapshot[],
  by: { readonly host: boolean; readonly paths: boolean },
): Snapshot[][] {
  const groups = new Map<
    string,
    { host: string; paths: string[]; members: Snapshot[] }
  >();
  for (const snapshot of snapshots) {
    const host = by.host ? snapshot.host : "";
    const paths = by.paths ? [...snapshot.paths].sort() : [];
    const key = JSON.stringify([host, paths]);
    const group = groups.get(key);
    if (group === undefined)
      groups.set(key, { host, paths, members: [snapshot] });
    else group.members.push(snapshot);
  }
  return [...groups.values()]
    .sort(
      (a, b) =>
        compareStrings(a.host, b.host) || comparePathLists(a.paths, b.paths),
    )
    .map((group) => group.members);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePathLists(a: readonly string[], b: readonly string[]): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const order = compareStrings(a[i] ?? "", b[i] ?? "");
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

interface CountRule {
  readonly count: number;
  readonly reason: string;
  readonly period: (ms: number, index: number) => number;
}

interface NormalizedPolicy {
  readonly empty: boolean;
  readonly counts: readonly CountRule[];
  readonly within: PolicyDuration | undefined;
  readonly tagLists: readonly (readonly string[])[];
}

function normalizePolicy(policy: ForgetPolicy): NormalizedPolicy {
  const rules: CountRule[] = [
    {
      count: checkCount("keep-last", policy.keepLast),
      reason: "last snapshot",
      // Every snapshot is its own period, so keep-last counts snapshots.
      period: (_ms, index) => index,
    },
    {
      count: checkCount("keep-hourly", policy.keepHourly),
      reason: "hourly snapshot",
      period: (ms) => Math.floor(ms / HOUR_MS),
    },
    {
      count: checkCount("keep-daily", policy.keepDaily),
      reason: "daily snapshot",
      period: (ms) => Math.floor(ms / DAY_MS),
    },
    {
      count: checkCount("keep-weekly", policy.keepWeekly),
      reason: "weekly snapshot",
      period: isoWeek,
    },
    {
      count: checkCount("keep-monthly", policy.keepMonthly),
      reason: "monthly snapshot",
      period: (ms) => {
        const date = new Date(ms);
        return date.getUTCFullYear() * 12 + date.getUTCMonth();
      },
    },
    {
      count: checkCount("keep-yearly", policy.keepYearly),
      reason: "yearly snapshot",
      period: (ms) => new Date(ms).getUTCFullYear(),
    },
  ];
  const counts = rules.filter((rule) => rule.count !== 0);

  const parsed =
    policy.keepWithin === undefined
      ? undefined
      : parseDuration(policy.keepWithin);
  // A zero duration is how restic spells "option not given".
  const within =
    parsed !== undefined &&
    (parsed.years > 0 ||
      parsed.months > 0 ||
      parsed.days > 0 ||
      parsed.hours > 0)
      ? parsed
      : undefined;

  const tagLists = (policy.keepTags ?? []).map((list) =>
    list.split(",").map((tag) => tag.trim()),
  );

  return {
    empty: counts.length === 0 && within === undefined && tagLists.length === 0,
    counts,
    within,
    tagLists,
  };
}

function checkCount(option: string, value: number | undefined): number {
  if (value === undefined) return 0;
  if (!Number.isSafeInteger(value) || value < -1) {
    throw new BlindsyncError(
      "usage",
      `--${option} must be a whole number of snapshots, or -1 for unlimited (got ${value})`,
    );
  }
  return value;
}

function badDuration(text: string, problem: string): BlindsyncError {
  return new BlindsyncError("usage", `invalid duration "${text}": ${problem}`, {
    hint: DURATION_HINT,
  });
}

function formatDuration(duration: PolicyDuration): string {
  return [
    [duration.years, "y"],
    [duration.months, "m"],
    [duration.days, "d"],
    [duration.hours, "h"],
  ]
    .filter(([value]) => value !== 0)
    .map(([value, unit]) => `${String(value)}${String(unit)}`)
    .join("");
}

interface Timed {
  readonly snapshot: Snapshot;
  readonly ms: number;
}

/** Newest first; equal times fall back to the sequence number, then the id, so ties are stable. */
function newestFirst(snapshots: readonly Snapshot[]): Timed[] {
  return snapshots
    .map((snapshot) => {
      const ms = Date.parse(snapshot.time);
      if (Number.isNaN(ms)) {
        throw new RangeError(`snapshot time is not a date: ${snapshot.time}`);
      }
      return { snapshot, ms };
    })
    .sort(
      (a, b) =>
        b.ms - a.ms ||
        b.snapshot.seq - a.snapshot.seq ||
        compareBytes(b.snapshot.id, a.snapshot.id),
    );
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

function referenceTime(
  ordered: readonly Timed[],
  now: Date | undefined,
): number {
  if (now === undefined) return ordered[0]?.ms ?? Number.NEGATIVE_INFINITY;
  const limit = now.getTime();
  // With every snapshot in the future restic's reference is the zero time: all are "within".
  return (
    ordered.find((entry) => entry.ms < limit)?.ms ?? Number.NEGATIVE_INFINITY
  );
}

/** Calendar subtraction as Go's AddDate, which normalises day overflow into the next month. */
function subtractDuration(ms: number, duration: PolicyDuration): number {
  if (!Number.isFinite(ms)) return ms;
  const date = new Date(ms);
  date.setUTCFullYear(
    date.getUTCFullYear() - duration.years,
    date.getUTCMonth() - duration.months,
    date.getUTCDate() - duration.days,
  );
  const cutoff = date.getTime() - duration.hours * HOUR_MS;
  // Beyond the Date range every snapshot lies within the window.
  return Number.isNaN(cutoff) ? Number.NEGATIVE_INFINITY : cutoff;
}

/** ISO 8601 week as year * 100 + week: weeks start on Monday and belong to their Thursday's year. */
function isoWeek(ms: number): number {
  const dayStart = Math.floor(ms / DAY_MS) * DAY_MS;
  const weekday = (new Date(dayStart).getUTCDay() + 6) % 7;
  const thursday = new Date(dayStart + (3 - weekday) * DAY_MS);
  const year = thursday.getUTCFullYear();
  const january1 = new Date(0);
  january1.setUTCFullYear(year, 0, 1);
  const week =
    Math.floor((thursday.getTime() - january1.getTime()) / (7 * DAY_MS)) + 1;
  return year * 100 + week;
}

function hasTags(snapshot: Snapshot, tagList: readonly string[]): boolean {
  for (const tag of tagList) {
    if (tag === "" && snapshot.tags.length === 0) return true;
    if (!snapshot.tags.includes(tag)) return false;
  }
  return true;
}
