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
  return {
    ...(root === undefined ? {} : { root }),
    id,
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

/** Oldest first by time, then sequence number; the last element is the newest. */
export function sortSnapshots(snapshots: Snapshot[]): Snapshot[] {
  return snapshots.sort(
    (a, b) => a.time.localeCompare(b.time) || a.seq - b.seq,
  );
}

/** The head: the snapshot with the highest sequence number (ties broken by id). */
export function headOf(snapshots: readonly Snapshot[]): Snapshot | undefined {
  let head: Snapshot | undefined;
  for (const snapshot of snapshots) {
    if (
      head === undefined ||
      snapshot.seq > head.seq ||
      (snapshot.seq === head.seq && toHex(snapshot.id) > toHex(head.id))
    ) {
      head = snapshot;
    }
  }
  return head;
}

/** Finds a snapshot by "latest", a full id or a unique hex prefix, as git does. */
export function resolveSnapshot(
  snapshots: readonly Snapshot[],
  reference: string,
): Snapshot {
  if (reference === "latest") {
    const newest = [...snapshots]
      .sort((a, b) => a.time.localeCompare(b.time) || a.seq - b.seq)
      .at(-1);
    if (newest === undefined)
      throw new BlindsyncError(
        "not-found",
        "The repository has no snapshots yet",
      );
    return newest;
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
