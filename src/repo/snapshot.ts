/**
 * Snapshot records: the root of one backup, plus the head chain. Each snapshot carries a
 * sequence number one above the highest the writer saw and the id of that previous head, so a
 * client that has seen head N refuses a repository that shows anything older (rollback).
 *
 * Encoded as canonical JSON (fixed key order, no whitespace): small, debuggable, and the
 * same record always gives the same bytes.
 */
import { BlindsyncError } from "../errors.js";
import { fromHex, toHex } from "../util/bytes.js";
import type { BlobId } from "../store/index.js";

export const SNAPSHOT_FORMAT_VERSION = 1;

export interface SnapshotStats {
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  /** Data blobs this backup uploaded, and their stored size. */
  readonly blobsAdded: number;
  readonly bytesAdded: number;
}

export interface SnapshotRecord {
  readonly seq: number;
  readonly previous: BlobId | null;
  readonly tree: BlobId;
  /** ISO 8601 UTC with milliseconds. */
  readonly time: string;
  readonly host: string;
  readonly username: string;
  /** Absolute source paths as given (informational; restore uses the tree). */
  readonly paths: readonly string[];
  readonly tags: readonly string[];
  readonly stats: SnapshotStats;
  /** Present when the snapshot holds one directory's contents at its root. */
  readonly root?: RootMeta;
  /**
   * Set by `copy`: the id of the snapshot this one was copied from, in the repository where
   * it was first written (restic's `original`), so a re-run skips what it already copied.
   * Absent in snapshots a backup wrote, and in every record written before `copy` existed.
   */
  readonly original?: BlobId;
}

/** Metadata of the single source directory, applied to the restore target (rsync's `SRC/`). */
export interface RootMeta {
  readonly mode: number;
  readonly mtimeNs: bigint;
  readonly uid: number;
  readonly gid: number;
}

/** A decoded snapshot together with its blob id. */
export interface Snapshot extends SnapshotRecord {
  readonly id: BlobId;
}

export function encodeSnapshot(record: SnapshotRecord): Uint8Array {
  if (!Number.isSafeInteger(record.seq) || record.seq < 1) {
    // Only reachable from a head (or a pin) at MAX_SEQ: writing MAX_SEQ + 1 would round, and
    // a record every reader rejects would lock the repository.
    throw new BlindsyncError(
      "integrity",
      `Cannot write a snapshot with sequence number ${String(record.seq)}: the head chain is out of range`,
      {
        hint: "Someone with the repository's keys stored snapshots with absurd sequence numbers; run: blindsync check REPO",
      },
    );
  }
  const canonical = {
    v: SNAPSHOT_FORMAT_VERSION,
    seq: record.seq,
    previous: record.previous === null ? null : toHex(record.previous),
    tree: toHex(record.tree),
    time: record.time,
    host: record.host,
    username: record.username,
    paths: record.paths,
    tags: record.tags,
    stats: {
      files: record.stats.files,
      dirs: record.stats.dirs,
      bytes: record.stats.bytes,
      blobsAdded: record.stats.blobsAdded,
      bytesAdded: record.stats.bytesAdded,
    },
    ...(record.root === undefined
      ? {}
      : {
          root: {
            mode: record.root.mode,
            mtimeNs: record.root.mtimeNs.toString(),
            uid: record.root.uid,
            gid: record.root.gid,
          },
        }),
    // Last and only when set, so every record without it keeps its bytes (and so its id).
    ...(record.original === undefined
      ? {}
      : { original: toHex(record.original) }),
  };
  return new TextEncoder().encode(JSON.stringify(canonical));
}

function invalid(reason: string): BlindsyncError {
  return new BlindsyncError(
    "integrity",
    `Snapshot record is malformed: ${reason}`,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringArray(value: unknown, field: string): string[] {
  if (
    !Array.isArray(value) ||
    !value.every((item) => typeof item === "string")
  ) {
    throw invalid(`${field} is not a list of strings`);
  }
  return value;
}

function count(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${field} is not a count`);
  }
  return value;
}

function blobId(value: unknown, field: string): BlobId {
  if (typeof value !== "string" || !/^[0-9a-f]{64}$/.test(value))
    throw invalid(`${field} is not an id`);
  return fromHex(value);
}

function decodeRoot(value: unknown): RootMeta {
  if (
    !isRecord(value) ||
    typeof value.mtimeNs !== "string" ||
    !/^-?\d{1,20}$/.test(value.mtimeNs)
  ) {
    throw invalid("root is not directory metadata");
  }
  const mode = count(value.mode, "root.mode");
  if (mode > 0o7777) throw invalid("root.mode has bits beyond permissions");
  return {
    mode,
    mtimeNs: BigInt(value.mtimeNs),
    uid: count(value.uid, "root.uid"),
    gid: count(value.gid, "root.gid"),
  };
}

export function decodeSnapshot(id: BlobId, bytes: Uint8Array): Snapshot {
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes),
    );
  } catch (error) {
    throw new BlindsyncError("integrity", "Snapshot record is not valid JSON", {
      cause: error,
    });
  }
  if (!isRecord(parsed)) throw invalid("not an object");
  if (parsed.v !== SNAPSHOT_FORMAT_VERSION)
    throw invalid(`unknown version ${String(parsed.v)}`);
  if (
    typeof parsed.time !== "string" ||
    Number.isNaN(Date.parse(parsed.time))
  ) {
    throw invalid("time is not a date");
  }
  if (typeof parsed.host !== "string" || typeof parsed.username !== "string") {
    throw invalid("host or username is not a string");
  }
  const stats = isRecord(parsed.stats) ? parsed.stats : {};
  const root = parsed.root === undefined ? undefined : decodeRoot(parsed.root);
  const original =
    parsed.original === undefined
      ? undefined
      : blobId(parsed.original, "original");
  return {
    ...(root === undefined ? {} : { root }),
    ...(original === undefined ? {} : { original }),
    id,
    // Any safe integer decodes (MAX_SEQ is the top); whether it fits the chain is assessChain's
    // call, so one absurd record is set aside instead of making the whole listing fail.
    seq: count(parsed.seq, "seq"),
    previous:
      parsed.previous === null ? null : blobId(parsed.previous, "previous"),
    tree: blobId(parsed.tree, "tree"),
    time: parsed.time,
    host: parsed.host,
    username: parsed.username,
    paths: stringArray(parsed.paths, "paths"),
    tags: stringArray(parsed.tags, "tags"),
    stats: {
      files: count(stats.files ?? 0, "stats.files"),
      dirs: count(stats.dirs ?? 0, "stats.dirs"),
      bytes: count(stats.bytes ?? 0, "stats.bytes"),
      blobsAdded: count(stats.blobsAdded ?? 0, "stats.blobsAdded"),
      bytesAdded: count(stats.bytesAdded ?? 0, "stats.bytesAdded"),
    },
  };
}

/**
 * The highest sequence number a record may carry: above it `seq + 1` is no longer exact in a
 * JavaScript number. Honest repositories never come near it (a backup a second for 285 million
 * years); a forged record can sit right at it, which is why `assessChain` exists.
 */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/**
 * The largest step between one sequence number in the repository and the next one above it
 * that still counts as part of the head chain (from 0 for the lowest). Each backup writes one
 * more than the head it saw (a little more when several backups share one client cache and
 * race), and `forget` removes snapshots, so honest steps are the number of backups forgotten in
 * between: 2^32 is a backup every 10 seconds for 1,300 years between two kept snapshots. A
 * key holder who wants to push the chain to MAX_SEQ, where no honest backup could follow, must
 * now store 2^21 snapshots in steps, a flood that costs every client minutes to list anyway.
 */
export const MAX_SEQ_STEP = 2 ** 32;

/** Oldest first by claimed time, then sequence number and id; the order `snapshots` lists. */
export function sortSnapshots(snapshots: Snapshot[]): Snapshot[] {
  return snapshots.sort(
    (a, b) =>
      a.time.localeCompare(b.time) || a.seq - b.seq || compareIds(a.id, b.id),
  );
}

function compareIds(a: BlobId, b: BlobId): number {
  const hexA = toHex(a);
  const hexB = toHex(b);
  return hexA < hexB ? -1 : hexA > hexB ? 1 : 0;
}

/**
 * Chain order, oldest first: sequence number, then (between concurrent backups that wrote the
 * same number) claimed time, then id, so every client picks the same newest one. The time is
 * only a tie-break: it is whatever the writer claimed (`backup --time`), so it never outranks
 * the chain.
 */
export function compareChainOrder(a: Snapshot, b: Snapshot): number {
  return (
    a.seq - b.seq || a.time.localeCompare(b.time) || compareIds(a.id, b.id)
  );
}

/** A snapshot left out of the head chain, and why (one clause, for a warning). */
export interface SuspiciousSnapshot {
  readonly snapshot: Snapshot;
  readonly reason: string;
}

export interface ChainAssessment {
  /** The snapshots the head chain is made of, in chain order (oldest first). */
  readonly chain: Snapshot[];
  /** Authentic records (written with the keys) that no honest writer would have made. */
  readonly suspicious: SuspiciousSnapshot[];
}

/**
 * Splits the snapshots into the head chain and the suspicious rest. A snapshot is suspicious
 * when its sequence number is out of range, jumps more than MAX_SEQ_STEP above the highest one
 * accepted below it, or is not above the one of the previous snapshot it names. Suspicious
 * snapshots stay listed and restorable by id (they were written with the keys, and may hold
 * someone's data), but are never the head a backup builds on nor `latest`: one forged record
 * must not lock every later backup out or stay "newest" for ever.
 */
export function assessChain(snapshots: readonly Snapshot[]): ChainAssessment {
  const byId = new Map(
    snapshots.map((snapshot) => [toHex(snapshot.id), snapshot]),
  );
  const chain: Snapshot[] = [];
  const suspicious: SuspiciousSnapshot[] = [];
  let top = 0;
  for (const snapshot of [...snapshots].sort(compareChainOrder)) {
    const previous =
      snapshot.previous === null
        ? undefined
        : byId.get(toHex(snapshot.previous));
    let reason: string | undefined;
    if (snapshot.seq < 1 || snapshot.seq > MAX_SEQ) {
      reason = `its sequence number ${String(snapshot.seq)} is out of range`;
    } else if (snapshot.seq > top + MAX_SEQ_STEP) {
      reason = `its sequence number ${String(snapshot.seq)} jumps from ${String(top)}, more than any run of backups could`;
    } else if (previous !== undefined && previous.seq >= snapshot.seq) {
      reason = `its sequence number ${String(snapshot.seq)} is not above the one of the snapshot it follows (${String(previous.seq)})`;
    }
    if (reason === undefined) {
      chain.push(snapshot);
      top = snapshot.seq;
    } else {
      suspicious.push({ snapshot, reason });
    }
  }
  return { chain, suspicious };
}

/**
 * The head: the newest snapshot of the head chain (highest sequence number; ties by time, then
 * id). What a backup builds on, what the pin records, and `latest` when nothing filters.
 */
export function headOf(snapshots: readonly Snapshot[]): Snapshot | undefined {
  return assessChain(snapshots).chain.at(-1);
}

/**
 * The snapshots reached from `head` by following each one's previous id, head first. Stops at
 * a previous that is not in `snapshots` (removed by `forget`, or never there) or that does not
 * have a lower sequence number, so it always ends.
 */
export function chainFrom(
  head: Snapshot,
  snapshots: readonly Snapshot[],
): Snapshot[] {
  const byId = new Map(
    snapshots.map((snapshot) => [toHex(snapshot.id), snapshot]),
  );
  const walked = [head];
  let current = head;
  while (current.previous !== null) {
    const previous = byId.get(toHex(current.previous));
    if (previous === undefined || previous.seq >= current.seq) break;
    walked.push(previous);
    current = previous;
  }
  return walked;
}

/**
 * `latest`: the newest snapshot in chain order among those `matches` accepts (all when
 * omitted), never the newest claimed time. Suspicious snapshots are judged against the whole
 * repository, so pass every snapshot and filter with `matches`.
 */
export function latestOf(
  snapshots: readonly Snapshot[],
  matches: (snapshot: Snapshot) => boolean = () => true,
): Snapshot | undefined {
  return assessChain(snapshots).chain.filter(matches).at(-1);
}

/** Finds a snapshot by "latest", a full id or a unique hex prefix, as git does. */
export function resolveSnapshot(
  snapshots: readonly Snapshot[],
  reference: string,
  filter?: (snapshot: Snapshot) => boolean,
): Snapshot {
  if (reference === "latest") {
    const newest = latestOf(snapshots, filter);
    if (newest !== undefined) return newest;
    if (snapshots.length === 0)
      throw new BlindsyncError(
        "not-found",
        "The repository has no snapshots yet",
      );
    throw new BlindsyncError(
      "not-found",
      "No snapshot in the head chain matches, so there is no latest one",
      { hint: "Name one by id; list them with: blindsync snapshots REPO" },
    );
  }
  const prefix = reference.toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(prefix)) {
    throw new BlindsyncError(
      "usage",
      `"${reference}" is not a snapshot id (hex digits or "latest")`,
    );
  }
  const matches = snapshots.filter((snapshot) =>
    toHex(snapshot.id).startsWith(prefix),
  );
  if (matches.length === 0) {
    throw new BlindsyncError(
      "not-found",
      `No snapshot matches "${reference}"`,
      {
        hint: "List them with: blindsync snapshots REPO",
      },
    );
  }
  if (matches.length > 1) {
    throw new BlindsyncError(
      "usage",
      `Snapshot id "${reference}" is ambiguous (${matches.length} match)`,
      {
        hint: "Give more hex digits",
      },
    );
  }
  return matches[0] as Snapshot;
}
