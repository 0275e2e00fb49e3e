/**
 * restoreSnapshot(): checks the options, reads the root tree, prepares the target, joins the
 * parts (walker, file pool, file writer, hard links, deletion, finishing) and runs them in order:
 * walk and write every file, then symlinks and directory metadata, then the include paths that
 * matched nothing.
 */
import { lstatSync } from "node:fs";
import {
  BlindsyncError,
  describeError,
  isBlindsyncError,
} from "../../errors.js";
import type { Tree } from "../../repo/index.js";
import { Deletion } from "./deletion.js";
import { FileWriter } from "./file-writer.js";
import { Finishing } from "./finishing.js";
import { currentOwner } from "./fs-ops.js";
import { Hardlinks } from "./hardlinks.js";
import { ownersForRestore } from "./owner-map.js";
import { parseIncludes, unmatchedIncludes } from "./includes.js";
import { Protection } from "./protect.js";
import { FilePool } from "./scheduler.js";
import { Tally, type Totals } from "./tally.js";
import { prepareTarget, Target } from "./target.js";
import type { RestoreOptions, RestoreResult } from "./types.js";
import { existingDirState, Walker } from "./walker.js";

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
 * `errors`; restore goes on with everything else. Throws only when nothing can be done: an
 * unusable target ('failed'), a root tree that cannot be read, or a bad include path ('usage'),
 * or when the snapshot's trees expand past the bound ('integrity', expansion.ts).
 */
export async function restoreSnapshot(
  given: RestoreOptions,
): Promise<RestoreResult> {
  const options = ownersForRestore(given, currentOwner().isRoot);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Restore concurrency must be a positive integer, not ${concurrency}`,
    );
  }
  const includes = parseIncludes(options.include);
  const root = await loadRoot(options);
  const protection =
    options.protect === undefined || options.protect.length === 0
      ? undefined
      : new Protection(options.protect);
  protection?.checkTarget(options.target);
  const target = new Target(await prepareTarget(options.target));

  const tally = new Tally(
    options.sink,
    totalsOf(options, includes === undefined),
  );
  const owner = currentOwner();
  const deletion = new Deletion(
    target,
    tally,
    protection,
    options.delete === true,
  );
  const pool = new FilePool(concurrency, (message) => {
    tally.fail(message);
  });
  const writer = new FileWriter(
    options.repo,
    target,
    tally,
    deletion,
    owner,
    options.fsync === true,
  );
  const files = new Hardlinks(pool, writer, target, tally, deletion);
  const finishing = new Finishing(target, tally, deletion, owner);
  const walker = new Walker(
    options.repo,
    target,
    tally,
    protection,
    deletion,
    files,
    finishing,
  );

  const rootState = existingDirState(lstatSync(target.root, { bigint: true }));
  await walker.walk(
    root,
    options.snapshot.tree,
    target.root,
    includes ?? "all",
    rootState,
  );
  await pool.drain();
  if (walker.stopped !== undefined) throw walker.stopped;
  finishing.finish();
  if (includes !== undefined) {
    for (const path of unmatchedIncludes(includes))
      tally.fail(`Cannot restore "${path}": it is not in the snapshot`);
  }
  tally.report();
  return tally.result;
}
