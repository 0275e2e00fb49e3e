/**
 * The archiver: a backup run's coordinator, in restic's archiver shape. It takes the shared
 * lock, starts the sealing workers, and joins the stages, each with one job:
 *
 * - sources.ts decides what lands where (one directory's contents at the root, or several
 *   sources each under its base name) and walker.ts what to read (the walk, the directory
 *   cache, the files cache); stdin-source.ts stores `--stdin` as the snapshot's one file;
 * - file-saver.ts reads a new or changed file into chunks (chunk-stream.ts);
 * - blob-saver.ts dedups, seals (seal-pool.ts) and uploads blobs in batches;
 * - tree-saver.ts writes directories bottom-up, records the caches at checkpoints and commits
 *   the snapshot once every blob it reaches is durable.
 */
import { hostname } from "node:os";
import { describeHolders, withLock } from "../locking.js";
import { BlobSaver } from "./blob-saver.js";
import { ExcludeMatcher } from "./excludes.js";
import { FileSaver } from "./file-saver.js";
import { SealPool } from "./seal-pool.js";
import { resolveSources, walkSources } from "./sources.js";
import { saveStdin, stdinSnapshotPath } from "./stdin-source.js";
import { TreeSaver } from "./tree-saver.js";
import type { BackupOptions, BackupResult, BackupTally } from "./types.js";
import { Walker } from "./walker.js";

/**
 * One run: walks the sources, then, once every blob is durable, passes `commitGate` (the lock
 * check) and writes the snapshot. A dry run stops before the gate.
 */
async function archive(
  options: BackupOptions,
  pool: SealPool | undefined,
  commitGate: () => Promise<void>,
): Promise<BackupResult> {
  const { stdin } = options;
  const sources = stdin === undefined ? resolveSources(options.sources) : [];
  const time = options.time ?? new Date();
  const dryRun = options.dryRun ?? false;
  const compression = options.compression ?? "auto";
  const { repo, cache } = options;
  const tally: BackupTally = {
    files: 0,
    dirs: 0,
    bytes: 0,
    filesNew: 0,
    filesChanged: 0,
    warnings: 0,
    notices: 0,
  };
  const blobSaver = new BlobSaver(repo, cache, { dryRun, pool, compression });
  const treeSaver = new TreeSaver({
    repo,
    cache,
    blobSaver,
    dryRun,
    compression,
  });
  const fileSaver = new FileSaver({
    repo,
    cache,
    pool,
    blobSaver,
    compression,
    countBytes: (bytes) => {
      tally.bytes += bytes;
      walker.reportReading();
    },
  });
  const walker = new Walker({
    repo,
    tally,
    sink: options.sink,
    cache,
    dryRun,
    prewalk: options.prewalk,
    fileSaver,
    treeSaver,
    bytesAdded: () => blobSaver.stats.bytesAdded,
    reuseEarlierTrees: options.reuseEarlierTrees ?? false,
  });
  const walked =
    stdin === undefined
      ? await walkSources(
          walker,
          treeSaver,
          sources,
          ExcludeMatcher.fromPatterns(options.excludes ?? [], {
            excludeCaches: options.excludeCaches === true,
            ...(options.excludeLargerThan === undefined
              ? {}
              : { excludeLargerThan: options.excludeLargerThan }),
            oneFileSystem: options.oneFileSystem === true,
          }),
        )
      : await saveStdin(
          stdin,
          {
            fileSaver,
            treeSaver,
            tally,
            sink: options.sink,
            bytesAdded: () => blobSaver.stats.bytesAdded,
          },
          time,
        );
  // Every blob the snapshot reaches must be durable before the snapshot itself is written.
  await treeSaver.finish();
  const { files, dirs, bytes, filesNew, filesChanged, warnings } = tally;
  const { blobsAdded, bytesAdded, bytesStored } = blobSaver.stats;
  const result = {
    files,
    dirs,
    bytes,
    blobsAdded,
    bytesAdded,
    bytesStored,
    filesNew,
    filesChanged,
    warnings,
  };
  if (dryRun) return { ...result, snapshot: undefined };
  await commitGate();
  const snapshot = await treeSaver.commit(walked.tree, {
    head: options.head,
    time,
    host: options.host ?? hostname(),
    paths: stdin === undefined ? sources : [stdinSnapshotPath(stdin.name)],
    tags: [...(options.tags ?? [])],
    files,
    dirs,
    bytes,
    root: walked.root,
  });
  return { ...result, snapshot };
}

/**
 * Backs up the sources into a new snapshot. The cache must be open for this repository.
 *
 * Holds a shared repository lock for the whole run: a prune (exclusive) cannot start while a
 * backup may still reference blobs it would delete, and the lease is confirmed once more right
 * before the snapshot is written. A prune that ran since this cache last looked (a new
 * generation) makes the cache forget which blobs exist.
 */
export async function backup(options: BackupOptions): Promise<BackupResult> {
  const { store } = options.repo;
  return withLock(
    store,
    {
      exclusive: false,
      owner: `backup, pid ${process.pid}`,
      waitMs: options.lockWaitMs ?? 0,
      onWait: (holders) => {
        options.sink.warn(
          `Waiting for the repository lock: ${describeHolders(holders)}`,
        );
      },
    },
    async (lock) => {
      options.cache.syncGeneration(await store.generation());
      if (options.dryRun !== true) options.cache.beginRun();
      const pool =
        options.dryRun === true ? undefined : SealPool.start(options.repo);
      // From here on the walk lists by itself whatever the prewalk did not reach.
      options.prewalk?.stop();
      try {
        const result = await archive(options, pool, async () => {
          await options.beforeCommit?.();
          await lock.confirm();
        });
        if (options.dryRun !== true) options.cache.finishRun();
        return result;
      } catch (error) {
        options.cache.abortRun();
        throw error;
      } finally {
        options.prewalk?.clear();
        await pool?.close();
      }
    },
  );
}
