/**
 * `stats`: what a repository stores and what its snapshots hold, after restic's modes.
 * - The repository: stored blobs by kind (one listing of the store, no decryption), and the
 *   logical size every snapshot records, so the deduplication ratio costs no tree walk.
 * - restore-size: files, directories, symlinks and bytes a restore of the snapshots writes,
 *   counted from their trees (each distinct tree read once, its totals reused).
 * - raw-data: the distinct blobs (data and tree) the snapshots reference and the bytes they
 *   take in the store: what a prune keeps for them.
 */
import type { Repository, Snapshot, Tree } from "../repo/index.js";
import {
  BLOB_KINDS,
  type BlobId,
  type BlobKind,
  type Store,
} from "../store/index.js";
import { toHex } from "../util/bytes.js";

export interface BlobCount {
  readonly count: number;
  readonly bytes: number;
}

export interface RepositoryStats {
  readonly snapshots: number;
  readonly blobs: Readonly<Record<BlobKind, BlobCount>>;
  /** Every blob's stored (encrypted, padded) length, summed. */
  readonly storedBytes: number;
  /** The file bytes of all snapshots, as each recorded at backup: what restoring all writes. */
  readonly logicalBytes: number;
  readonly files: number;
}

/** The repository as a whole: one listing of the store, nothing decrypted. */
export async function repositoryStats(
  store: Store,
  snapshots: readonly Snapshot[],
): Promise<RepositoryStats> {
  const blobs = Object.fromEntries(
    BLOB_KINDS.map((kind) => [kind, { count: 0, bytes: 0 }]),
  ) as Record<BlobKind, { count: number; bytes: number }>;
  let storedBytes = 0;
  for await (const blob of store.list()) {
    blobs[blob.kind].count++;
    blobs[blob.kind].bytes += blob.length;
    storedBytes += blob.length;
  }
  let logicalBytes = 0;
  let files = 0;
  for (const snapshot of snapshots) {
    logicalBytes += snapshot.stats.bytes;
    files += snapshot.stats.files;
  }
  return {
    snapshots: snapshots.length,
    blobs,
    storedBytes,
    logicalBytes,
    files,
  };
}

export interface RestoreSize {
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  readonly fifos: number;
  /** Entries of any other type (a newer format's), counted but without bytes. */
  readonly others: number;
  readonly bytes: number;
}

export interface RawData {
  /** Distinct data and tree blobs the snapshots reference. */
  readonly blobs: number;
  /** Their stored lengths, summed (what they take in the repository). */
  readonly storedBytes: number;
  /** Referenced blobs the store does not list (damage: `check` says more). */
  readonly missing: number;
}

/** Trees read at once: enough to hide a remote round trip, few enough to bound memory. */
const TREES_IN_FLIGHT = 32;

/**
 * Reads every distinct tree reachable from `roots` once, breadth first, a batch at a time,
 * and hands each to `visit`.
 */
async function visitDistinctTrees(
  repo: Repository,
  roots: readonly BlobId[],
  visit: (id: string, tree: Tree) => void,
): Promise<void> {
  const seen = new Set<string>();
  let level: BlobId[] = [];
  const enqueue = (id: BlobId, into: BlobId[]): void => {
    const hex = toHex(id);
    if (seen.has(hex)) return;
    seen.add(hex);
    into.push(id);
  };
  for (const root of roots) enqueue(root, level);
  while (level.length > 0) {
    const next: BlobId[] = [];
    for (let start = 0; start < level.length; start += TREES_IN_FLIGHT) {
      const batch = level.slice(start, start + TREES_IN_FLIGHT);
      const trees = await Promise.all(batch.map((id) => repo.loadTree(id)));
      trees.forEach((tree, index) => {
        visit(toHex(batch[index] as BlobId), tree);
        for (const entry of tree.entries)
          if (entry.type === "dir") enqueue(entry.subtree, next);
      });
    }
    level = next;
  }
}

interface TreeTotals {
  local: RestoreSize;
  children: string[];
}

const ZERO: RestoreSize = {
  files: 0,
  dirs: 0,
  symlinks: 0,
  fifos: 0,
  others: 0,
  bytes: 0,
};

function add(a: RestoreSize, b: RestoreSize): RestoreSize {
  return {
    files: a.files + b.files,
    dirs: a.dirs + b.dirs,
    symlinks: a.symlinks + b.symlinks,
    fifos: a.fifos + b.fifos,
    others: a.others + b.others,
    bytes: a.bytes + b.bytes,
  };
}

/**
 * What restoring each of `snapshots` writes, summed (a snapshot listed twice counts twice).
 * A hardlinked file counts once per name, as `ls` lists it.
 */
export async function restoreSize(
  repo: Repository,
  snapshots: readonly Snapshot[],
): Promise<RestoreSize> {
  const trees = new Map<string, TreeTotals>();
  await visitDistinctTrees(
    repo,
    snapshots.map((snapshot) => snapshot.tree),
    (id, tree) => {
      let local = ZERO;
      const children: string[] = [];
      for (const entry of tree.entries) {
        switch (entry.type) {
          case "file":
            local = add(local, { ...ZERO, files: 1, bytes: entry.size });
            break;
          case "dir":
            local = add(local, { ...ZERO, dirs: 1 });
            children.push(toHex(entry.subtree));
            break;
          case "symlink":
            local = add(local, { ...ZERO, symlinks: 1 });
            break;
          case "fifo":
            local = add(local, { ...ZERO, fifos: 1 });
            break;
          default:
            // A type a newer snapshot format added: counted, without bytes.
            local = add(local, { ...ZERO, others: 1 });
        }
      }
      trees.set(id, { local, children });
    },
  );
  const totals = new Map<string, RestoreSize>();
  const totalOf = (id: string): RestoreSize => {
    const known = totals.get(id);
    if (known !== undefined) return known;
    const tree = trees.get(id);
    // Every reachable tree was visited; a miss would be a bug, counted as empty.
    if (tree === undefined) return ZERO;
    const total = tree.children.reduce(
      (sum, child) => add(sum, totalOf(child)),
      tree.local,
    );
    totals.set(id, total);
    return total;
  };
  return snapshots.reduce(
    (sum, snapshot) => add(sum, totalOf(toHex(snapshot.tree))),
    ZERO,
  );
}

/** The distinct blobs `snapshots` reference and their stored size (one store listing). */
export async function rawData(
  repo: Repository,
  snapshots: readonly Snapshot[],
): Promise<RawData> {
  const referenced = new Set<string>();
  await visitDistinctTrees(
    repo,
    snapshots.map((snapshot) => snapshot.tree),
    (id, tree) => {
      referenced.add(id);
      for (const entry of tree.entries)
        if (entry.type === "file")
          for (const blob of entry.content) referenced.add(toHex(blob));
    },
  );
  let storedBytes = 0;
  let listed = 0;
  for await (const blob of repo.store.list()) {
    if (blob.kind === "snapshot" || !referenced.has(toHex(blob.id))) continue;
    storedBytes += blob.length;
    listed++;
  }
  return {
    blobs: referenced.size,
    storedBytes,
    missing: referenced.size - listed,
  };
}
