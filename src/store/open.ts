/**
 * One entry point from a location string to a Store: a local path opens a SqliteStore in
 * process; `host:path` and `ssh://…` reach `blindsync serve` over ssh. The layers above see the
 * same Store either way.
 */

import type { OpenMode } from "../protocol/index.js";
import { parseLocation } from "./remote/location.js";
import { RemoteStore } from "./remote/client.js";
import { openSshStore } from "./remote/ssh.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import type { Store } from "./store.js";

export interface OpenStoreOptions {
  readonly mode: OpenMode;
  /** The ssh command line (--ssh / BLINDSYNC_SSH). */
  readonly sshCommand?: string;
  /** Ask ssh for AES-GCM first (see remote/ssh-ciphers.ts); ignored for a local path. */
  readonly preferAesGcm?: boolean;
  /** The blindsync command on the server (--remote-cmd / BLINDSYNC_REMOTE_CMD). */
  readonly remoteCommand?: string;
  /** Each stderr line of ssh and the remote server. */
  readonly onStderr?: (line: string) => void;
  /** Local repositories only: refuse deletes as `serve --append-only` does. */
  readonly appendOnly?: boolean;
}

export async function openStore(
  location: string,
  options: OpenStoreOptions,
): Promise<Store> {
  const parsed = parseLocation(location);
  if (parsed.kind === "local")
    return SqliteStore.open(parsed.path, {
      create: options.mode === "create",
      ...(options.appendOnly === undefined
        ? {}
        : { appendOnly: options.appendOnly }),
    });
  return openSshStore(parsed, {
    mode: options.mode,
    ...(options.sshCommand === undefined
      ? {}
      : { sshCommand: options.sshCommand }),
    ...(options.remoteCommand === undefined
      ? {}
      : { remoteCommand: options.remoteCommand }),
    ...(options.onStderr === undefined ? {} : { onStderr: options.onStderr }),
    ...(options.preferAesGcm === undefined
      ? {}
      : { preferAesGcm: options.preferAesGcm }),
  });
}

/**
 * Whether the machine serving `store` has AES instructions, as its hello said; undefined for a
 * repository opened in this process.
 */
export function serverHasAes(store: Store): boolean | undefined {
  return store instanceof RemoteStore ? store.serverHasAes : undefined;
}
