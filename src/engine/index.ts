/**
 * engine/: what blindsync does with plaintext — backup (walker and archiver), restore, and
 * reading snapshots (ls, cat, diff, find, stats, dump). May import repo/, chunker/, crypto/,
 * store/ and the shared leaves; never cli/. The engine never prints: it reports through the
 * sinks its callers pass.
 */
export {
  backup,
  type BackupOptions,
  type BackupResult,
  type BackupSink,
  type BackupProgress,
  readPatternFile,
  Prewalk,
  checkStdinName,
  DEFAULT_STDIN_NAME,
  type StdinSource,
} from "./backup/index.js";
export {
  findEntry,
  listTree,
  streamFile,
  diffTrees,
  pathComponents,
  type Change,
  type ChangeKind,
  type ListedEntry,
} from "./browse.js";
export {
  PathPattern,
  PatternSet,
  type PatternOptions,
} from "./find-pattern.js";
export { findInSnapshots, type FoundEntry } from "./find.js";
export {
  repositoryStats,
  restoreSize,
  rawData,
  type BlobCount,
  type RawData,
  type RepositoryStats,
  type RestoreSize,
} from "./stats.js";
export { dumpTree, type DumpSink } from "./dump.js";
export { streamFileAhead } from "./file-stream.js";
export {
  restoreSnapshot,
  DEFAULT_OVERWRITE,
  isOverwritePolicy,
  OVERWRITE_POLICIES,
  type OverwritePolicy,
  type RestoreAction,
  type RestoreOptions,
  type RestoreResult,
  type RestoreSink,
  type ProtectedPath,
} from "./restore/index.js";
export {
  forget,
  planForget,
  HEAD_REASON,
  type ForgetOptions,
  type ForgetResult,
} from "./forget.js";
export {
  parseDuration,
  type ForgetPolicy,
  type PolicyDecision,
} from "./forget-policy.js";
export {
  prune,
  type PruneOptions,
  type PruneResult,
  type PruneSink,
  type PruneProgress,
} from "./prune.js";
export { repair, type RepairOptions, type RepairResult } from "./repair.js";
export {
  checkRepository,
  checkSelection,
  type CheckProblem,
  type CheckReport,
  type ReadDataSelection,
} from "./check.js";
export type { StorageReport } from "./check-storage.js";
export { applyRootMeta } from "./root-meta.js";
export {
  withLock,
  describeHolders,
  DEFAULT_LEASE_MS,
  type HeldLock,
  type LockOptions,
} from "./locking.js";
export {
  copy,
  type CopyAdded,
  type CopyOptions,
  type CopyProgress,
  type CopyResult,
  type CopySink,
} from "./copy.js";
export { planCopy, originalOf, type CopyPlan } from "./copy-plan.js";
