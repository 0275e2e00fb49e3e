/**
 * The ObjectStore: storage that runs nothing of ours (a directory, an sftp account, an S3
 * bucket), seen as named objects written whole. It is the floor under store/packs/, which
 * builds the Store (blobs, key slots, locks) on top of it; nothing above store/ sees it.
 *
 * Deliberately small, because each backend must give it over a dumb protocol: whole-object
 * put, ranged get, stat, list by prefix and delete. Nothing here relies on what only some
 * storage offers (conditional writes, listing order, read-after-delete): the pack store's
 * correctness rests on content-addressed names and on objects never being visible half-written.
 */

/** One stored object as a listing or stat reports it. */
export interface ObjectInfo {
  /** The object's full name, as given to put (see names.ts for what a name may be). */
  readonly name: string;
  /** Its length in bytes. */
  readonly size: number;
}

/** `length` bytes from `offset` of an object. */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

export interface GetOptions {
  /**
   * The caller knows the object's bytes never change under its name (a pack, named by its
   * SHA-256): a backend may keep it open between gets (sftp does), so a deleted object may
   * still be read as it was. Never for an object that is replaced in place (config, leases).
   */
  readonly unchanging?: boolean;
}

export interface ObjectStore {
  /**
   * Where the objects live, for messages ("sftp://me@host/srv/vault", "s3://bucket/prefix",
   * a directory path). Holds no secret.
   */
  readonly where: string;

  /**
   * Writes the whole object, replacing one of the same name. Readers see the old bytes or all
   * of the new ones, never a part (temporary name then rename; S3's PUT is atomic). Durable
   * when the promise resolves, as far as the storage lets a client know (fsync where there is
   * one). Throws RangeError for a name names.ts refuses, before writing anything.
   */
  put(name: string, bytes: Uint8Array): Promise<void>;

  /**
   * put() of `parts` joined, for an object held in pieces (a pack: its blobs, then its
   * trailer). Optional: a backend that can write pieces as they are (sftp, a directory) saves the copy into
   * one buffer; for the others the caller joins the parts and calls put().
   */
  putParts?(name: string, parts: readonly Uint8Array[]): Promise<void>;

  /**
   * The object's bytes, or only `range` of them. Throws BlindsyncError('not-found') when the
   * object does not exist, and BlindsyncError('integrity') when a range reaches past its end
   * (a pack shorter than its trailer says is damage, not a missing object).
   */
  get(
    name: string,
    range?: ByteRange,
    options?: GetOptions,
  ): Promise<Uint8Array>;

  /** The object's size, or undefined when it does not exist. */
  stat(name: string): Promise<ObjectInfo | undefined>;

  /**
   * Every object whose name starts with `prefix` ("" for all, usually a folder such as
   * "index/"), in no promised order, each once. Objects being written (temporary names) are
   * never listed.
   */
  list(prefix: string): AsyncIterable<ObjectInfo>;

  /** Deletes the object; a name that does not exist is ignored. */
  delete(name: string): Promise<void>;

  /**
   * Removes what writers that died in a put left behind (their temporary files), unchanged for
   * `olderThanMs` at least: a put in progress keeps writing its temporary, so it is younger.
   * Returns how many were removed. Absent where a put leaves nothing behind (S3's PUT, memory).
   */
  sweepTemporaries?(olderThanMs: number): Promise<number>;

  /** Releases connections and handles. Idempotent; no other method may be called after. */
  close(): Promise<void>;
}
