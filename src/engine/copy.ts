/**
 * `copy`: snapshots from one repository into another, neither of which sees the other's keys
 * and nothing of which is decrypted to disk. Each snapshot's tree is rewritten into the
 * destination bottom-up (copy-tree.ts), then its record is written there with the same time,
 * host, user, paths, tags and root metadata, the id it was first written under (`original`,
 * for copy-plan.ts to skip it next time), and a place at the top of the destination's head
 * chain: copied snapshots join the chain in the order they are copied, oldest first.
 *
 * Both repositories are held with shared locks for the whole run, as a backup holds its own:
 * a prune of the source cannot delete a blob being read, nor one of the destination a blob
 * about to be referenced, and the destination's lease is confirmed right before each snapshot
 * is written. A copy interrupted at any point leaves at most unreferenced blobs and the
 * snapshots it finished; the next run skips those and reuses the rest.
 */
import { BlindsyncError } from "../errors.js";
import {
  advancePin,
  headOf,
  type ClientCache,
  type CompressionMode,
  type CopyIds,
  type Repository,
  type Snapshot,
  type SnapshotRecord,
} from "../repo/index.js";
import { BlobSaver, SealPool } from "./backup/index.js";
import { planCopy } from "./copy-plan.js";
import { TreeCopier, type TreeCopyStats } from "./copy-tree.js";
import { describeHolders, withLock } from "./locking.js";

export interface CopyProgress extends TreeCopyStats {
  /** The snapshot being copied: its position among those to copy (from 1), and their count. */
  readonly snapshot: number;
  readonly snapshots: number;
}

export interface CopySink {
  progress(progress: CopyProgress): void;
  /** A selected snapshot the destination already holds a copy of. */
  skipped(snapshot: Snapshot, copy: Snapshot): void;
  /** A snapshot written into the destination, and what its copy uploaded. */
  copied(from: Snapshot, to: Snapshot, added: CopyAdded): void;
  warn(message: string): void;
}

export interface CopyAdded {
  readonly blobsAdded: number;
  readonly bytesAdded: number;
}

export interface CopyOptions {
  readonly source: Repository;
  readonly destination: Repository;
  /** The destination location's client cache (the blobs it holds, the pin). */
  readonly cache: ClientCache;
  /** What earlier copies from this source into this destination learnt (CopyIds). */
  readonly ids: CopyIds;
  /** The source snapshots asked for; those already copied are skipped. */
  readonly snapshots: readonly Snapshot[];
  readonly sink: CopySink;
  /** How long to wait for a prune's exclusive lock on either side; 0 fails at once (exit 11). */
  readonly lockWaitMs?: number;
  /** For every blob sealed into the destination (default "auto"). */
  readonly compression?: CompressionMode;
}

export interface CopyResult {
  readonly copied: readonly {
    readonly from: Snapshot;
    readonly to: Snapshot;
  }[];
  readonly skipped: readonly {
    readonly snapshot: Snapshot;
    readonly copy: Snapshot;
  }[];
  readonly trees: number;
  readonly blobsRead: number;
  readonly bytesRead: number;
  readonly blobsAdded: number;
  readonly bytesAdded: number;
  readonly bytesStored: number;
}

/**
 * Refuses, before anything is written, a destination whose chunker caps data blobs below the
 * source's: copied chunks keep their size, and the destination would refuse to read one.
 */
function checkChunkSizes(source: Repository, destination: Repository): void {
  const from = source.config.chunker.maxSize;
  const to = destination.config.chunker.maxSize;
  if (from > to) {
    throw new BlindsyncError(
      "failed",
      `Cannot copy: the source repository's chunks may be up to ${String(from)} bytes, and the destination reads chunks of at most ${String(to)}`,
      {
        hint: "Copy into a repository created with the default chunker, or one at least as large as the source's",
      },
    );
  }
}

function lockOptions(options: CopyOptions, side: string) {
  return {
    exclusive: false,
    owner: `copy (${side}), pid ${process.pid}`,
    waitMs: options.lockWaitMs ?? 0,
    onWait: (holders: Parameters<typeof describeHolders>[0]) => {
      options.sink.warn(
        `Waiting for the ${side} repository's lock: ${describeHolders(holders)}`,
      );
    },
  };
}

/** The destination's record of a copied snapshot, on top of its chain. */
function copiedRecord(
  from: Snapshot,
  tree: Uint8Array,
  seq: number,
  previous: Snapshot | undefined,
  added: CopyAdded,
): SnapshotRecord {
  return {
    seq,
    previous: previous?.id ?? null,
    tree,
    time: from.time,
    host: from.host,
    username: from.username,
    paths: from.paths,
    tags: from.tags,
    stats: { ...from.stats, ...added },
    ...(from.root === undefined ? {} : { root: from.root }),
    original: from.original ?? from.id,
  };
}

export async function copy(options: CopyOptions): Promise<CopyResult> {
  const { source, destination, cache } = options;
  checkChunkSizes(source, destination);
  return withLock(source.store, lockOptions(options, "source"), () =>
    withLock(
      destination.store,
      lockOptions(options, "destination"),
      async (lock) => {
        cache.syncGeneration(await destination.store.generation());
        // Listed under the lock: a backup or copy that finished since the unlock moved the head.
        const existing = await destination.listSnapshots();
        let head = headOf(existing);
        const plan = planCopy(options.snapshots, existing);
        for (const { snapshot, copy } of plan.skip)
          options.sink.skipped(snapshot, copy);
        const pool =
          plan.copy.length > 0 ? SealPool.start(destination) : undefined;
        const saver = new BlobSaver(destination, cache, {
          pool,
          compression: options.compression ?? "auto",
        });
        let current = 0;
        const copier = new TreeCopier({
          source,
          destination,
          cache,
          saver,
          ids: options.ids,
          onProgress: (stats) => {
            options.sink.progress({
              ...stats,
              snapshot: current,
              snapshots: plan.copy.length,
            });
          },
        });
        const copied: { from: Snapshot; to: Snapshot }[] = [];
        try {
          for (const from of plan.copy) {
            current += 1;
            const before = { ...saver.stats };
            const tree = await copier.copyTree(from.tree);
            // Every blob the snapshot reaches must be durable before the snapshot is written.
            await copier.checkpoint();
            await lock.confirm();
            const added = {
              blobsAdded: saver.stats.blobsAdded - before.blobsAdded,
              bytesAdded: saver.stats.bytesAdded - before.bytesAdded,
            };
            const seq = Math.max(head?.seq ?? 0, cache.pin?.lastSeq ?? 0) + 1;
            const to = await destination.saveSnapshot(
              copiedRecord(from, tree, seq, head, added),
              options.compression ?? "auto",
            );
            advancePin(cache, destination, to);
            head = to;
            copied.push({ from, to });
            options.sink.copied(from, to, added);
          }
        } finally {
          await pool?.close();
        }
        return {
          copied,
          skipped: plan.skip,
          ...copier.stats,
          blobsAdded: saver.stats.blobsAdded,
          bytesAdded: saver.stats.bytesAdded,
          bytesStored: saver.stats.bytesStored,
        };
      },
    ),
  );
}
