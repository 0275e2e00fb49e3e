/**
 * Prune: deletes every blob that no remaining snapshot reaches and gives the space back.
 *
 * Safe beside running backups by construction: it holds the exclusive repository lock, which
 * no backup's shared lock can coexist with, so every backup has either committed its snapshot
 * before the reachable set is computed (its blobs are then reachable) or starts after prune
 * ends (and, seeing the new generation, forgets what its cache believed exists).
 *
 * Snapshot blobs no client can read (garbage a connection without the passphrase could put,
 * or a key holder's record that authenticates but does not decode) reach nothing and are
 * deleted with the unreferenced blobs.
 */
import { BlindsyncError } from "../errors.js";
import type { Repository } from "../repo/index.js";
import type { BlobId, LockHolder } from "../store/index.js";
import { toHex } from "../util/bytes.js";
import { withLock } from "./locking.js";

const DELETE_BATCH = 1000;

export interface PruneProgress {
  readonly phase: "marking" | "deleting" | "compacting";
  readonly trees: number;
  readonly deleted: number;
}

export interface PruneSink {
  progress(progress: PruneProgress): void;
  waiting(holders: readonly LockHolder[]): void;
}

export interface PruneOptions {
  readonly repo: Repository;
  readonly sink: PruneSink;
  /** How long to wait for running backups to finish (0 fails at once, exit 11). */
  readonly lockWaitMs: number;
  /** Count what would be deleted without deleting. */
  readonly dryRun?: boolean;
}

export interface PruneResult {
  readonly snapshots: number;
  /** Of the deleted blobs, the snapshot blobs no client can read (see the top). */
  readonly undecodableSnapshots: number;
  readonly reachable: number;
  readonly deletedBlobs: number;
  /** Stored bytes of the deleted blobs. */
  readonly deletedBytes: number;
  readonly keptBlobs: number;
  readonly keptBytes: number;
  /** The generation after this prune (unchanged when nothing was deleted). */
  readonly generation: number;
}

/**
 * Collects the ids of every tree and data blob the snapshots reach. The set holds one hex
 * string per reachable blob (about 130 bytes each: 130 MiB per million chunks).
 */
async function markReachable(
  repo: Repository,
  roots: readonly BlobId[],
  onTree: (trees: number) => void,
): Promise<Set<string>> {
  const reachable = new Set<string>();
  const pending = [...roots];
  let trees = 0;
  for (let tree = pending.pop(); tree !== undefined; tree = pending.pop()) {
    const key = toHex(tree);
    if (reachable.has(key)) continue;
    reachable.add(key);
    trees += 1;
    if (trees % 100 === 0) onTree(trees);
    for (const entry of (await repo.loadTree(tree)).entries) {
      if (entry.type === "dir") pending.push(entry.subtree);
      else if (entry.type === "file")
        for (const id of entry.content) reachable.add(toHex(id));
    }
  }
  return reachable;
}

export async function prune(options: PruneOptions): Promise<PruneResult> {
  const { repo, sink } = options;
  const store = repo.store;
  // Refused up front, not only when there is something to delete: on an append-only
  // connection a prune can never do its job, and a silent "deleted 0" would hide that.
  if (store.appendOnly && options.dryRun !== true) {
    throw new BlindsyncError(
      "append-only",
      "The repository is append-only: cannot prune",
      {
        hint: "Prune over a connection that is not append-only (a separate key whose forced command lacks --append-only)",
      },
    );
  }
  return withLock(
    store,
    {
      exclusive: true,
      owner: `prune, pid ${process.pid}`,
      waitMs: options.lockWaitMs,
      onWait: (holders) => {
        sink.waiting(holders);
      },
    },
    async (lock) => {
      // Snapshots are listed under the lock: a backup that committed while we waited counts.
      const { snapshots, undecodable } = await repo.readSnapshots();
      const garbage = new Set(undecodable.map((blob) => toHex(blob.id)));
      const reachable = await markReachable(
        repo,
        snapshots.map((snapshot) => snapshot.tree),
        (trees) => {
          sink.progress({ phase: "marking", trees, deleted: 0 });
        },
      );
      const doomed: BlobId[] = [];
      let deletedBytes = 0;
      let keptBlobs = 0;
      let keptBytes = 0;
      for await (const info of store.list()) {
        const hex = toHex(info.id);
        if (
          (info.kind === "snapshot" && !garbage.has(hex)) ||
          reachable.has(hex)
        ) {
          keptBlobs += 1;
          keptBytes += info.length;
        } else {
          doomed.push(info.id);
          deletedBytes += info.length;
        }
      }
      let generation = await store.generation();
      if (options.dryRun !== true && doomed.length > 0) {
        // The generation moves before the first delete: a prune that dies half-way has still
        // told every client cache to stop trusting what it remembers.
        generation = await store.bumpGeneration();
        for (let start = 0; start < doomed.length; start += DELETE_BATCH) {
          await lock.confirm();
          await store.delete(doomed.slice(start, start + DELETE_BATCH));
          sink.progress({
            phase: "deleting",
            trees: reachable.size,
            deleted: Math.min(start + DELETE_BATCH, doomed.length),
          });
        }
        generation = await store.bumpGeneration();
        sink.progress({
          phase: "compacting",
          trees: reachable.size,
          deleted: doomed.length,
        });
        await store.compact();
      }
      return {
        snapshots: snapshots.length,
        undecodableSnapshots: garbage.size,
        reachable: reachable.size,
        deletedBlobs: doomed.length,
        deletedBytes,
        keptBlobs,
        keptBytes,
        generation,
      };
    },
  );
}
