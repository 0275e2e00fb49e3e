/**
 * The store layer: the untrusted side of blindsync, which keeps opaque ids, ciphertext, the
 * opaque config record and key slots (see store.ts for the contracts). This file is the layer's
 * only import surface.
 *
 * May import: node built-ins, npm packages, src/errors.ts, src/util/ and src/protocol/.
 */

export * from "./store.js";
export { MAX_LEASE_MS } from "./rules/index.js";
export { keepLocks, type LockKeeper } from "./held-locks.js";
export { MemoryStore, type MemoryStoreOptions } from "./memory/memory-store.js";
export {
  SqliteStore,
  sqliteIntegrityCheck,
  type SqliteStoreOptions,
} from "./sqlite/sqlite-store.js";
export { openStore, type OpenStoreOptions } from "./open.js";
export {
  PackStore,
  type PackIndexReport,
  type PackStoreOptions,
} from "./packs/pack-store.js";
export {
  RemoteStore,
  type RemoteStoreOptions,
  type RemoteTransport,
} from "./remote/client.js";
export {
  serveConnection,
  type ServeConnectionOptions,
} from "./remote/server.js";
export {
  runServe,
  resolveRepositoryPath,
  type RunServeOptions,
} from "./remote/serve.js";
export {
  parseLocation,
  formatLocation,
  locationKey,
  resolveLocation,
  type Location,
  type RepositoryLocation,
} from "./remote/location.js";
export type { CipherHint, ConnectionOptions } from "./remote/connection.js";
export {
  localRepositoryFiles,
  holdsLocalRepository,
  holdsPackRepository,
} from "./local-repository.js";
export {
  openSshStore,
  splitShellWords,
  sshArguments,
  type SshStoreOptions,
} from "./remote/ssh.js";
