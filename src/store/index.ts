/**
 * The store layer: the untrusted side of blindsync, which keeps opaque ids, ciphertext, the
 * opaque config record and key slots (see store.ts for the contracts). This file is the layer's
 * only import surface.
 *
 * May import: node built-ins, npm packages, src/errors.ts, src/util/ and src/protocol/.
 */

export * from "./store.js";
export { MemoryStore, type MemoryStoreOptions } from "./memory/memory-store.js";
export {
  SqliteStore,
  sqliteIntegrityCheck,
  type SqliteStoreOptions,
} from "./sqlite/sqlite-store.js";
