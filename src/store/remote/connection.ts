/**
 * How to reach a remote repository, declared once: the CLI fills it from its options and
 * environment, and open.ts hands it whole to ssh.ts.
 */

import type { TransferLimits } from "../limits/index.js";

/**
 * The memory behind the ssh cipher choice (ssh-ciphers.ts): AES-GCM is asked for first only
 * when this machine has AES instructions and the server said on an earlier connection that its
 * CPU has them too. The caller keeps the answers (the client cache); the store only asks and
 * tells, so no layer above needs to know which store it opened.
 */
export interface CipherHint {
  /** What the server said of its CPU on an earlier connection; undefined if it never said. */
  earlier(): boolean | undefined;
  /** What the server said on this connection (its hello), for the next one. */
  heard(serverHasAes: boolean): void;
}

export interface ConnectionOptions {
  /** The ssh command line (--ssh / BLINDSYNC_SSH), split as a shell splits words. Default "ssh". */
  readonly sshCommand?: string;
  /** The blindsync command on the server (--remote-cmd / BLINDSYNC_REMOTE_CMD). Default "blindsync". */
  readonly remoteCommand?: string;
  /** Without one, ssh's own cipher defaults stand. */
  readonly cipherHint?: CipherHint;
  /** Receives each line ssh (or the remote command) writes to stderr. */
  readonly onStderr?: (line: string) => void;
  /** S3 repositories: the endpoint URL (--s3-endpoint); else the SDK's configuration. */
  readonly s3Endpoint?: string;
  /** S3 repositories: path-style addressing (--s3-path-style); else chosen by the endpoint. */
  readonly s3PathStyle?: boolean;
  /**
   * --limit-upload / --limit-download, applied where the store's bytes cross the link (the ssh
   * pipe, the object store under packs; for a local SQLite repository, its blobs).
   */
  readonly limits?: TransferLimits;
}
