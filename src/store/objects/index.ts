/**
 * Object storage: named objects written whole on storage that runs nothing of ours (see
 * object-store.ts). Used by store/packs/ only; backends: a directory, sftp, S3.
 */
export type {
  ByteRange,
  GetOptions,
  ObjectInfo,
  ObjectStore,
} from "./object-store.js";
export { checkObjectName, checkObjectPrefix, isObjectName } from "./names.js";
export {
  MemoryObjectStore,
  checkRange,
  objectNotFound,
} from "./memory-object-store.js";
export { DirObjectStore } from "./dir-object-store.js";
export type { DirObjectStoreOptions } from "./dir-object-store.js";
