/**
 * Selecting snapshots by host, path and tag, with restic's rules, for every command that
 * takes `--host`, `--path` and `--tag` (snapshots, ls, cat, diff, restore, forget, tag):
 *
 * - hosts: a snapshot of any of the given hosts (OR);
 * - paths: a snapshot whose paths include every given path (AND), compared exactly after
 *   making each given path absolute and clean, as restic does (so `--path ~/docs` does not
 *   pick a snapshot of `~/docs/sub` nor of `~`);
 * - tags: each `--tag` value is a comma-separated list a snapshot must hold all of; several
 *   `--tag` options pick a snapshot holding any one of the lists (OR of ANDs). An empty list
 *   (`--tag ""`) picks snapshots without tags.
 * - the three kinds combine with AND; no filter at all picks every snapshot.
 *
 * A source set (host + paths) is what a backup of the same sources from the same machine
 * repeats; the short restore form refuses to choose between several of them.
 */
import { resolve } from "node:path";
import { BlindsyncError } from "../errors.js";
import { toHex } from "../util/bytes.js";
import {
  assessChain,
  compareChainOrder,
  latestOf,
  resolveSnapshot,
  type Snapshot,
} from "./snapshot.js";

export interface SnapshotFilter {
  readonly hosts: readonly string[];
  /** Absolute, clean paths. */
  readonly paths: readonly string[];
  /** Each list is ANDed, the lists ORed. */
  readonly tagLists: readonly (readonly string[])[];
}

export const NO_FILTER: SnapshotFilter = { hosts: [], paths: [], tagLists: [] };

/** The raw values of repeatable `--host`, `--path` and `--tag` options. */
export interface FilterFlags {
  readonly host?: readonly string[];
  readonly path?: readonly string[];
  readonly tag?: readonly string[];
}

/** Builds a filter from option values; relative paths are taken from `cwd`. */
export function parseSnapshotFilter(
  flags: FilterFlags,
  cwd: string = process.cwd(),
): SnapshotFilter {
  return {
    hosts: [...(flags.host ?? [])],
    paths: (flags.path ?? []).map((path) => resolve(cwd, path)),
    tagLists: (flags.tag ?? []).map((list) =>
      list
        .split(",")
        .map((tag) => tag.trim())
        .filter((tag) => tag !== ""),
    ),
  };
}

export function isEmptyFilter(filter: SnapshotFilter): boolean {
  return (
    filter.hosts.length === 0 &&
    filter.paths.length === 0 &&
    filter.tagLists.length === 0
  );
}

export function matchesFilter(
  filter: SnapshotFilter,
  snapshot: Snapshot,
): boolean {
  if (filter.hosts.length > 0 && !filter.hosts.includes(snapshot.host))
    return false;
  if (!filter.paths.every((path) => snapshot.paths.includes(path)))
    return false;
  if (filter.tagLists.length === 0) return true;
  return filter.tagLists.some((list) =>
    list.length === 0
      ? snapshot.tags.length === 0
      : list.every((tag) => snapshot.tags.includes(tag)),
  );
}

/** A predicate for resolveSnapshot / latestOf. */
export function snapshotPredicate(
  filter: SnapshotFilter,
): (snapshot: Snapshot) => boolean {
  return (snapshot) => matchesFilter(filter, snapshot);
}

/**
 * resolveSnapshot with the filter: `latest` is the newest in chain order among the snapshots
 * the filter picks; an id (or prefix) names its snapshot whatever the filter says, as in
 * restic, where filters choose only `latest`.
 */
export function selectSnapshot(
  snapshots: readonly Snapshot[],
  reference: string,
  filter: SnapshotFilter,
): Snapshot {
  if (
    reference === "latest" &&
    !isEmptyFilter(filter) &&
    snapshots.length > 0 &&
    latestOf(snapshots, snapshotPredicate(filter)) === undefined
  ) {
    throw new BlindsyncError(
      "not-found",
      `No snapshot matches ${describeFilter(filter)}`,
      {
        hint: "List them with their hosts, paths and tags: blindsync snapshots REPO",
      },
    );
  }
  return resolveSnapshot(snapshots, reference, snapshotPredicate(filter));
}

function quoted(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value)
    ? value
    : `'${value.replace(/'/g, "'\\''")}'`;
}

/** The filter as the options that give it, for messages: `--host a --path /x --tag t,u`. */
export function describeFilter(filter: SnapshotFilter): string {
  return [
    ...filter.hosts.map((host) => `--host ${quoted(host)}`),
    ...filter.paths.map((path) => `--path ${quoted(path)}`),
    ...filter.tagLists.map((list) => `--tag ${quoted(list.join(","))}`),
  ].join(" ");
}

/** One host + paths combination and its newest snapshot in chain order. */
export interface SourceSet {
  readonly host: string;
  readonly paths: readonly string[];
  readonly latest: Snapshot;
  /** The options that pick this set (or its latest snapshot by id when paths cannot). */
  readonly flags: string;
}

function setKey(snapshot: Snapshot): string {
  return JSON.stringify([snapshot.host, [...snapshot.paths].sort()]);
}

/**
 * The source sets among the head chain's snapshots that `filter` picks, oldest first by their
 * latest snapshot. `flags` names each: `--host H --path P...`, which picks the set unless its
 * paths are a subset of another set's of the same host (restic's `--path` matches every
 * snapshot holding the path), and then `--snapshot ID` of its latest.
 */
export function sourceSets(
  snapshots: readonly Snapshot[],
  filter: SnapshotFilter = NO_FILTER,
): SourceSet[] {
  const chain = assessChain(snapshots).chain.filter((snapshot) =>
    matchesFilter(filter, snapshot),
  );
  const latest = new Map<string, Snapshot>();
  // The chain is oldest first, so the last one written per key is the newest.
  for (const snapshot of chain) latest.set(setKey(snapshot), snapshot);
  const newest = [...latest.values()].sort(compareChainOrder);
  return newest.map((snapshot) => {
    const own: SnapshotFilter = {
      hosts: [snapshot.host],
      paths: snapshot.paths,
      tagLists: [],
    };
    const alsoPicked = newest.filter(
      (other) => other !== snapshot && matchesFilter(own, other),
    );
    return {
      host: snapshot.host,
      paths: snapshot.paths,
      latest: snapshot,
      flags:
        alsoPicked.length === 0
          ? describeFilter(own)
          : `--snapshot ${toHex(snapshot.id).slice(0, 8)}`,
    };
  });
}
