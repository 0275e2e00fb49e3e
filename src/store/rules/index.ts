/**
 * The store rules: the policy of the Store contract (store.ts), written once for every store.
 * A store keeps records behind small tables (BlobTable, KeySlotTable, LockTable, Cell) and runs
 * each rule inside one of its transactions; what a rule allows, refuses and how it words a
 * refusal is decided here, so a new store inherits it instead of writing it again.
 */
export {
  appendOnlyError,
  refuseIfAppendOnly,
  type AppendOnlyAction,
} from "./append-only.js";
export {
  blobNotFoundError,
  checkBlobs,
  checkId,
  checkKind,
  deleteIn,
  missingIn,
  putIn,
  type BlobTable,
} from "./blobs.js";
export {
  addKeySlotIn,
  listKeySlotsIn,
  removeKeySlotIn,
  type KeySlotTable,
} from "./key-slots.js";
export {
  MAX_LEASE_MS,
  MAX_REPORTED_HOLDERS,
  acquireLockIn,
  checkLockRequest,
  refreshLockIn,
  releaseLockIn,
  removeLocksIn,
  type LockRecord,
  type LockTable,
} from "./locks.js";
export {
  bumpGenerationIn,
  createIn,
  generationIn,
  type Cell,
} from "./records.js";
