/**
 * restoreSnapshot(): checks the options, reads the root tree, prepares the target, joins the
 * parts (selection, walker, file pool, file writer, hard links, deletion, verifier, finishing)
 * and runs them in order: walk and write every file, read them back (`verify`), then symlinks
 * and directory metadata, then the include paths and patterns that matched nothing.
 */
import { lstatSync } from "node:fs";
import {
  BlindsyncError,
  describeError,
  isBlindsyncError,
} from "../../errors.js";
import type { Tree } from "../../repo/index.js";
import { withHeapHeadroom } from "../../util/heap-growth.js";
import { Deletion } from "./deletion.js";
import { FileWriter } from "./file-writer.js";
import { Finishing } from "./finishing.js";
import { currentOwner } from "./fs-ops.js";
import { Hardlinks } from "./hardlinks.js";
import { DEFAULT_OVERWRITE } from "./overwrite.js";
import { ownersForRestore } from "./owner-map.js";
import { Protection } from "./protect.js";
import { FilePool } from "./scheduler.js";
import { Selection } from "./selection.js";
import { Tally, type Totals } from "./tally.js";
import { inspectTarget, prepareTarget, Target } from "./target.js";
import type { RestoreOptions, RestoreResult } from "./types.js";
import { Verifier } from "./verify.js";
import { existingDirState, Walker, type DirState } from "./walker.js";

/**
 * Files in flight. Most files are one small blob, so this is what keeps requests pipelined:
 * with 4 the client sat idle waiting for round trips (docs/performance.md).
 */
const DEFAULT_CONCURRENCY = 64;

async function loadRoot(options: RestoreOptions): Promise<Tree> {
  try {
    return await options.repo.loadTree(options.snapshot.tree);
  } catch (error) {
    if (isBlindsyncError(error)) throw error;
    throw new BlindsyncError(
      "failed",
      `Cannot read the snapshot's root tree: ${describeError(error)}`,
      {
        cause: error,
      },
    );
  }
}

/** The snapshot's own statistics, shown as totals only when the whole snapshot is restored. */
function totalsOf(options: RestoreOptions, wholeSnapshot: boolean): Totals {
  const stats = options.snapshot.stats;
  return wholeSnapshot && stats !== undefined && stats.files > 0
    ? { totalFiles: stats.files, totalBytes: stats.bytes }
    : {};
}

/**
 * Restores `snapshot` into `target`. Per-entry problems (a missing or damaged blob, a damaged
 * tree, an unsafe name, something in the way) are warned through the sink and counted in
 * `errors` (the repository's own faults also in `damaged`); restore goes on with everything
 * else. Include paths and patterns that selected nothing are returned in `unmatched`. Throws only
 * when nothing can be done: an unusable target ('failed'), a root tree that cannot be read, or a
 * bad include path ('usage'), or when the snapshot's trees expand past the bound ('integrity',
 * expansion.ts).
 */
export async function restoreSnapshot(
  given: RestoreOptions,
): Promise<RestoreResult> {
  // Little live heap and a stream of blobs through it: with the CLI's tight heap growth V8
  // collected the whole heap every 100 ms (util/heap-growth.ts).
  return withHeapHeadroom(() => restore(given));
}

async function restore(given: RestoreOptions): Promise<RestoreResult> {
  const options = ownersForRestore(given, currentOwner().isRoot);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Restore concurrency must be a positive integer, not ${concurrency}`,
    );
  }
  const dryRun = options.dryRun === true;
  const overwrite = options.overwrite ?? DEFAULT_OVERWRITE;
  const selection = Selection.parse(options.include, options.exclude);
  const root = await loadRoot(options);
  const protection =
    options.protect === undefined || options.protect.length === 0
      ? undefined
      : new Protection(options.protect);
  protection?.checkTarget(options.target);
  const { target, rootState } = await openTarget(options.target, dryRun);

  const tally = new Tally(options.sink, totalsOf(options, !selection.narrowed));
  const owner = currentOwner();
  const deletion = new Deletion(
    target,
    tally,
    protection,
    options.delete === true,
    dryRun,
  );
  const pool = new FilePool(concurrency, (message) => {
    tally.fail(message);
  });
  const verifier =
    options.verify === true && !dryRun
      ? new Verifier(options.repo, target, tally)
      : undefined;
  const writer = new FileWriter(options.repo, target, tally, deletion, owner, {
    fsync: options.fsync === true,
    overwrite,
    dryRun,
    verifier,
  });
  const files = new Hardlinks(pool, writer, target, tally, deletion);
  const finishing = new Finishing(
    target,
    tally,
    deletion,
    owner,
    overwrite,
    dryRun,
  );
  const walker = new Walker(
    options.repo,
    target,
    tally,
    protection,
    deletion,
    files,
    finishing,
    selection,
    dryRun,
  );

  await walker.walk(
    root,
    options.snapshot.tree,
    walker.rootPlace(rootState),
    selection.root(),
  );
  await pool.drain();
  if (walker.stopped !== undefined) throw walker.stopped;
  // Before the symlinks exist and the directory modes apply (verify.ts).
  verifier?.run();
  finishing.finish();
  tally.result.unmatched = selection.unmatched();
  for (const pattern of selection.unusedExcludes())
    tally.warn(`Exclude pattern "${pattern}" matched nothing in the snapshot`);
  tally.report();
  return tally.result;
}

/**
 * The target made ready (a dry run creates nothing: a missing target is then a directory it
 * would create) and the state of its root.
 */
async function openTarget(
  path: string,
  dryRun: boolean,
): Promise<{ target: Target; rootState: DirState }> {
  if (!dryRun) {
    const target = new Target(await prepareTarget(path));
    return {
      target,
      rootState: existingDirState(lstatSync(target.root, { bigint: true })),
    };
  }
  const { root, exists } = await inspectTarget(path);
  return {
    target: new Target(root),
    rootState: exists
      ? existingDirState(lstatSync(root, { bigint: true }))
      : { fresh: true, setgid: false },
  };
}
