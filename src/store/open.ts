/**
 * One entry point from a location to a Store: a local path opens a SqliteStore in process, or a
 * PackStore on a directory of pack files (`init --packs`); `host:path` and `ssh://…` reach
 * `blindsync serve` over ssh; `sftp:` and `s3:` put a PackStore on storage that runs nothing of
 * ours. The layers above see the same Store every way.
 */

import type { OpenMode } from "../protocol/index.js";
import {
  LimitedObjectStore,
  LimitedStore,
  limitersOf,
  type Limiters,
} from "./limits/index.js";
import { holdsPackRepository } from "./local-repository.js";
import { DirObjectStore } from "./objects/dir-object-store.js";
import type { ObjectStore } from "./objects/object-store.js";
import { openS3ObjectStore } from "./objects/s3/index.js";
import { SftpObjectStore } from "./objects/sftp/index.js";
import { PackStore } from "./packs/pack-store.js";
import type { ConnectionOptions } from "./remote/connection.js";
import { parseLocation, type Location } from "./remote/location.js";
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
  /** Refuse deletes as `serve --append-only` does (for pack stores, a courtesy: see docs). */
  readonly appendOnly?: boolean;
  /** Bytes at which a pack store closes a pack (default 16 MiB); ignored by other stores. */
  readonly packSize?: number;
}

/** Opens the store at `location`, parsed already or (in tests and tools) as text. */
export async function openStore(
  location: Location | string,
  options: OpenStoreOptions,
): Promise<Store> {
  const parsed =
    typeof location === "string" ? parseLocation(location) : location;
  const create = options.mode === "create";
  // One pair of limiters per store, made once: every transfer of this store shares the rate.
  const limiters = limitersOf(options.limits);
  switch (parsed.kind) {
    case "local": {
      if (create ? options.packs === true : holdsPackRepository(parsed.path))
        return packStore(
          await DirObjectStore.open(parsed.path, { create }),
          options,
          limiters,
        );
      const store = await SqliteStore.open(parsed.path, {
        create,
        ...(options.appendOnly === undefined
          ? {}
          : { appendOnly: options.appendOnly }),
      });
      return limiters === undefined ? store : new LimitedStore(store, limiters);
    }
    case "ssh":
      return openSshStore(parsed, { ...options, limiters });
    case "sftp":
      return packStore(
        await SftpObjectStore.open({
          host: parsed.host,
          user: parsed.user,
          port: parsed.port,
          path: parsed.path,
          sshCommand: options.sshCommand,
          onStderr: options.onStderr,
          create,
        }),
        options,
        limiters,
      );
    case "s3":
      return packStore(
        await openS3ObjectStore({
          bucket: parsed.bucket,
          prefix: parsed.prefix,
          ...(options.s3Endpoint === undefined
            ? {}
            : { endpoint: options.s3Endpoint }),
          ...(options.s3PathStyle === undefined
            ? {}
            : { forcePathStyle: options.s3PathStyle }),
          create,
        }),
        options,
        limiters,
      );
  }
}

function packStore(
  objects: ObjectStore,
  options: OpenStoreOptions,
  limiters: Limiters | undefined,
): Store {
  const indexCachePath = options.packIndexCache?.();
  const limited =
    limiters === undefined
      ? objects
      : new LimitedObjectStore(objects, limiters);
  return new PackStore(limited, {
    ...(indexCachePath === undefined ? {} : { indexCachePath }),
    ...(options.appendOnly === undefined
      ? {}
      : { appendOnly: options.appendOnly }),
    ...(options.packSize === undefined ? {} : { packSize: options.packSize }),
  });
}
