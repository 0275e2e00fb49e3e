/**
 * One entry point from a location to a Store: a local path opens a SqliteStore in process;
 * `host:path` and `ssh://…` reach `blindsync serve` over ssh. The layers above see the same
 * Store either way.
 */

import { BlindsyncError } from "../errors.js";
import type { OpenMode } from "../protocol/index.js";
import type { ConnectionOptions } from "./remote/connection.js";
import { parseLocation, type Location } from "./remote/location.js";
import { holdsPackRepository } from "./local-repository.js";
import { openSshStore } from "./remote/ssh.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import type { Store } from "./store.js";

/** The connection options are for a remote location and ignored for a local path. */
export interface OpenStoreOptions extends ConnectionOptions {
  readonly mode: OpenMode;
  /** Create: a pack directory (`init --packs`) rather than a SQLite repository at a local path. */
  readonly packs?: boolean;
  /**
   * The file of the merged pack index in the client's cache for this location (store/packs),
   * asked for only when the location holds packs; an index in memory when absent.
   */
  readonly packIndexCache?: () => string;
  /** Local repositories only: refuse deletes as `serve --append-only` does. */
  readonly appendOnly?: boolean;
}

/** Opens the store at `location`, parsed already or (in tests and tools) as text. */
export async function openStore(
  location: Location | string,
  options: OpenStoreOptions,
): Promise<Store> {
  const parsed =
    typeof location === "string" ? parseLocation(location) : location;
  if (
    parsed.kind === "local" &&
    (options.mode === "create"
      ? options.packs === true
      : holdsPackRepository(parsed.path))
  )
    throw new BlindsyncError(
      "failed",
      "pack directories are not supported by this build yet",
    );
  if (parsed.kind === "local")
    return SqliteStore.open(parsed.path, {
      create: options.mode === "create",
      ...(options.appendOnly === undefined
        ? {}
        : { appendOnly: options.appendOnly }),
    });
  if (parsed.kind === "ssh") return openSshStore(parsed, options);
  throw new BlindsyncError(
    "failed",
    `${parsed.kind} repositories are not supported by this build yet`,
  );
}
