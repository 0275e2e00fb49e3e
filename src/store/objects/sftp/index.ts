/**
 * The sftp backend of the ObjectStore: OpenSSH's sftp subsystem through the system ssh, with a
 * small SFTP version 3 client of our own (client.ts; docs/dependencies.md says why).
 */
export {
  SftpObjectStore,
  formatSftpWhere,
  type SftpObjectStoreOptions,
} from "./sftp-object-store.js";
export { sftpSshArguments } from "./ssh-process.js";
