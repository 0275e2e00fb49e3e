/**
 * repo/: the Repository — keys, blob encryption, the tree and snapshot codecs, and the client
 * cache. May import chunker/, crypto/, store/ and the shared leaves; never engine/ or cli/.
 */
export {
  Repository,
  type CreateOptions,
  type OpenOptions,
  type UndecodableSnapshot,
  undecodableWhy,
} from "./repository.js";
export {
  MAX_KDF_RUNS_PER_UNLOCK,
  classifyKeySlots,
  parseKeySlot,
  type UnreadableKeySlot,
} from "./keys.js";
export { compressionModes, type CompressionMode } from "./blob-codec.js";
export { Sealer, type SealerSpec } from "./sealer.js";
export {
  unlockRepository,
  advancePin,
  checkHead,
  type UnlockedRepository,
} from "./unlock.js";
export {
  ClientCache,
  defaultCacheRoot,
  readPin,
  readConnectionHints,
  type ConnectionHints,
  type Pin,
  type FileIdentity,
  type CachedContent,
  type FileRecord,
  type DirRecord,
} from "./cache/client-cache.js";
export {
  acquireBackupLock,
  type BackupLock,
  type BackupLockHolder,
} from "./cache/backup-lock.js";
export {
  decodeTree,
  encodeTree,
  TREE_FORMAT_V4,
  TREE_FORMAT_VERSION,
  isSafeName,
  isOwnerName,
  sortEntries,
  compareNames,
  MODE_MASK,
  MAX_INLINE_BYTES,
  type Tree,
  type TreeEntry,
  type TreeFormatVersion,
  type FileEntry,
  type BlobFileEntry,
  type InlineFileEntry,
  type DirEntry,
  type SymlinkEntry,
  type FifoEntry,
  type HardlinkKey,
} from "./tree.js";
export {
  chunkIdsChecksum,
  fileChecksumMessage,
  sameChecksum,
  settledChecksum,
  DerivedChecksum,
  type ChecksumDeriver,
  type FileChecksum,
  type FileChecksumKind,
} from "./file-checksum.js";
export {
  assessChain,
  chainFrom,
  compareChainOrder,
  headOf,
  latestOf,
  resolveSnapshot,
  sortSnapshots,
  MAX_SEQ,
  MAX_SEQ_STEP,
  type ChainAssessment,
  type SuspiciousSnapshot,
  type Snapshot,
  type SnapshotRecord,
  type SnapshotStats,
  type RootMeta,
} from "./snapshot.js";
export {
  describeFilter,
  isEmptyFilter,
  matchesFilter,
  parseSnapshotFilter,
  selectSnapshot,
  snapshotPredicate,
  sourceSets,
  NO_FILTER,
  type FilterFlags,
  type SnapshotFilter,
  type SourceSet,
} from "./snapshot-filter.js";
export {
  applySnapshotChanges,
  planSnapshotChanges,
  type PlannedRewrite,
  type RewritePlan,
  type RewriteResult,
  type SnapshotChanges,
} from "./snapshot-rewrite.js";
export { parseConfig, type RepositoryConfig } from "./config.js";
export { startEarlyKdf, type EarlyKdf } from "./early-kdf.js";
export { locationDir, packIndexFile } from "./cache/location.js";
export { CopyIds, type CopyKeys } from "./cache/copy-ids.js";
