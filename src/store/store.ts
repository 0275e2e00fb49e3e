/**
 * The Store: the untrusted side of blindsync, and its trust boundary. A Store keeps opaque,
 * already-encrypted blobs under opaque 32-byte ids, plus the repository's opaque config record
 * and key slots. It never sees a key, a name or a byte of plaintext, and callers must not trust
 * anything it returns without authenticating it (the repo layer does).
 *
 * Small, byte-oriented and batch-first, so that the same interface can sit on SQLite, on a pipe
 * to `blindsync serve`, or later on object storage. It is composed of small interfaces, one per
 * kind of record, and it carries bytes, not policy: what may be written, refused or reported
 * (never overwrite, not the last key slot, the lease cap, the append-only refusals) is written
 * once in store/rules/, and a store that keeps records runs those rules over small tables.
 */

/** 32 opaque bytes: HMAC-SHA256 of the plaintext under the repository's id key. */
export type BlobId = Uint8Array;

export const BLOB_ID_LENGTH = 32;

/**
 * What a blob holds. The server learns the kind (and so roughly how many directories exist),
 * never the contents.
 */
export type BlobKind = "data" | "tree" | "snapshot";

export const BLOB_KINDS: readonly BlobKind[] = ["data", "tree", "snapshot"];

export interface BlobInfo {
  readonly id: BlobId;
  readonly kind: BlobKind;
  /** Stored (ciphertext) length in bytes. */
  readonly length: number;
}

export interface BlobToPut {
  readonly id: BlobId;
  readonly kind: BlobKind;
  readonly bytes: Uint8Array;
}

/** One passphrase's wrapping of the master secret, opaque to the store. */
export interface KeySlot {
  /** Short printable name, unique in the repository (e.g. 16 hex characters). */
  readonly name: string;
  readonly bytes: Uint8Array;
}

/**
 * Someone holding a lock, as the store reports it to others: never the lock's id, which is a
 * secret of its holder (whoever knows it can refresh or release the lock).
 */
export interface LockHolder {
  readonly exclusive: boolean;
  /** What the holder said about itself ("backup, pid 4242"): no names, no secrets. */
  readonly owner: string;
  /** When the lease runs out, in milliseconds since the epoch by the store's clock. */
  readonly expiresAt: number;
}

export type LockAttempt =
  | {
      readonly acquired: true;
      /** Long and random: the holder's proof for refreshLock and releaseLock. */
      readonly id: string;
      /** The lease granted: the request's, or less when it asked for more than the store allows. */
      readonly leaseMs: number;
    }
  | {
      readonly acquired: false;
      /** Some of the holders in the way (a bounded number, see store/rules/locks.ts). */
      readonly holders: readonly LockHolder[];
      /** How many more holders are in the way than `holders` lists. */
      readonly more: number;
    };

export interface LockRequest {
  /** Exclusive (prune) excludes every other lock; shared (backup) excludes only exclusive. */
  readonly exclusive: boolean;
  /** At most 200 printable characters. The store sees it: keep names and secrets out. */
  readonly owner: string;
  /**
   * Lease length; a holder that dies stops refreshing and its lock expires by itself. The store
   * grants at most a few minutes (MAX_LEASE_MS in store/rules/locks.ts), whatever is asked.
   */
  readonly leaseMs: number;
}

/** What removeLocks did: how many locks it removed, and the live ones it left. */
export interface LocksRemoved {
  readonly removed: number;
  /** Some of the live locks left (a bounded number, as in a refused LockAttempt). */
  readonly live: readonly LockHolder[];
  /** How many more live locks are left than `live` lists. */
  readonly more: number;
}

/** The repository's config record: written once, with the first key slot (rules/records.ts). */
export interface ConfigStore {
  /**
   * Returns the config record written by `create`.
   * Throws BlindsyncError('no-repository') when there is no repository at this location.
   */
  readConfig(): Promise<Uint8Array>;

  /**
   * Creates the repository with its config record and first key slot, atomically.
   * Throws BlindsyncError('failed') when a repository already exists here.
   */
  create(config: Uint8Array, firstKeySlot: KeySlot): Promise<void>;
}

/** Opaque ciphertext under opaque ids (rules/blobs.ts). */
export interface BlobStore {
  /**
   * Returns the ids of `ids` that the store does not hold, in input order, each once.
   * A hint for deciding what to upload: an honest store answers exactly; the repo layer
   * verifies blobs on read, so a lie here is caught by `check --read-data` or restore.
   */
  missing(ids: readonly BlobId[]): Promise<BlobId[]>;

  /**
   * Returns the stored bytes of one blob, exactly as `put` received them.
   * Throws BlindsyncError('not-found') when the id is absent.
   */
  get(id: BlobId): Promise<Uint8Array>;

  /** Every stored blob of `kind` (all kinds when omitted), in no promised order. */
  list(kind?: BlobKind): AsyncIterable<BlobInfo>;

  /**
   * Stores blobs. Idempotent: an id already present is left as it is (never overwritten), so a
   * retried or concurrent upload is harmless. All of the batch is durable when the promise
   * resolves (synchronous=FULL on SQLite), unless `options.buffer` lets the store wait for
   * flush(). Throws RangeError for an id that is not 32 bytes or an unknown kind, before
   * storing any of the batch.
   */
  put(blobs: readonly BlobToPut[], options?: PutOptions): Promise<void>;

  /**
   * Deletes blobs; absent ids are ignored. Throws BlindsyncError('append-only') on an
   * append-only store, before deleting anything.
   */
  delete(ids: readonly BlobId[]): Promise<void>;

  /**
   * Gives the space of deleted blobs back to the file system (SQLite VACUUM); every blob stays
   * readable. 'append-only' refuses, as it refuses delete.
   */
  compact(): Promise<void>;
}

export interface PutOptions {
  /**
   * The store may hold the blobs until flush() (the pack store fills packs across puts, the
   * SQLite store keeps one transaction open across them, the remote store sends them buffered
   * to a server that keeps sync points): they are durable only once flush() resolves, though
   * this store's missing() and get() see them at once. A store without flush() stores them at
   * once; a wrapper that drops the option only costs the batching, never durability.
   */
  readonly buffer?: boolean;
}

/** Each passphrase's wrapping of the master secret (rules/key-slots.ts). */
export interface KeySlotStore {
  /** Every key slot, ordered by name (code point order, as SQLite orders UTF-8). */
  listKeySlots(): Promise<KeySlot[]>;

  /**
   * Adds a key slot. Never overwrites: throws BlindsyncError('failed') if the name exists.
   * Durable when the promise resolves.
   */
  addKeySlot(slot: KeySlot): Promise<void>;

  /**
   * Removes a key slot. Throws 'not-found' for an unknown name, 'failed' when it is the last
   * slot, 'append-only' on an append-only store.
   */
  removeKeySlot(name: string): Promise<void>;
}

/** Lease locks between clients; anyone who can connect may ask (rules/locks.ts). */
export interface LockStore {
  /**
   * Tries to take a lease lock, never waiting: expired leases are ignored (and removed), and
   * a conflict answers with the current holders (without their ids). Allowed on append-only
   * stores, for shared locks only: an exclusive request there throws 'append-only'. Throws
   * RangeError for an owner that is not at most 200 printable characters or a lease that is
   * not a positive whole number of milliseconds. Durable when the promise resolves.
   */
  acquireLock(request: LockRequest): Promise<LockAttempt>;

  /**
   * Extends a held lease to `leaseMs` from now (capped as in acquireLock). Throws
   * BlindsyncError('locked') when the lock is gone (it expired, or was removed by
   * removeLocks), because the holder can no longer rely on it.
   */
  refreshLock(id: string, leaseMs: number): Promise<void>;

  /** Releases a lock. Idempotent: an unknown id is ignored. */
  releaseLock(id: string): Promise<void>;

  /**
   * Removes the locks whose leases ran out, or with `all` every lock (`blindsync unlock
   * --remove-all`); `all` throws 'append-only' on an append-only store.
   */
  removeLocks(all: boolean): Promise<LocksRemoved>;
}

/** The prune generation, which tells client caches that blobs were deleted (rules/records.ts). */
export interface GenerationStore {
  /**
   * 0 for a new repository, incremented by every prune that deleted blobs. A client cache
   * that remembers blobs from an older generation must forget them.
   */
  generation(): Promise<number>;

  /** Increments the prune generation and returns the new value ('append-only' refuses). */
  bumpGeneration(): Promise<number>;
}

/**
 * A MAC under a key the repository layer derives and keeps: the store asks it to authenticate
 * the records it keeps on storage that runs nothing of ours (the pack store's index segments
 * and pack trailers), so that such storage cannot make a client believe a blob is stored. The
 * key never crosses into store/; only this object does.
 */
export interface IndexAuthenticator {
  /** HMAC-SHA256 of `bytes` (32 bytes). */
  mac(bytes: Uint8Array): Uint8Array;
}

/**
 * An object a store keeps on storage for its own bookkeeping (the pack store's packs and index
 * segments) that is damaged or that the store refused to believe: found by checkStorage.
 */
export interface StorageProblem {
  readonly object: "pack" | "index-segment";
  /** The object's name on storage ("packs/3f/3f…", "index/…"). */
  readonly name: string;
  /**
   * "damaged": read whole, its bytes are not what its name (a SHA-256) or its MACed trailer
   * says. "refused": the index does not believe it (a segment or an unindexed pack's trailer
   * that does not authenticate), so none of the blobs it lists counts as stored.
   */
  readonly state: "damaged" | "refused";
  /** One line: why. */
  readonly reason: string;
}

export interface StorageCheckOptions {
  /**
   * Which packs to read whole and re-hash (`check --read-data`), by the raw 32 bytes of the
   * SHA-256 that names them; none when absent, and then only what is read anyway is checked.
   */
  readonly readPacks?: (packId: Uint8Array) => boolean;
  /** Called after each pack read whole. */
  readonly onProgress?: (progress: StorageCheckProgress) => void;
}

export interface StorageCheckProgress {
  readonly packsRead: number;
  readonly bytesRead: number;
}

export interface StorageCheck extends StorageCheckProgress {
  /**
   * Packs no segment names whose trailer authenticates (an interrupted backup wrote them, or
   * storage lost their segment), counting those a read in this run indexed from their
   * trailers: the next backup, restore or check reading their blobs indexes them. Not a
   * problem: a segment storage damaged is reported as one on its own.
   */
  readonly unindexedPacks: number;
  /** Sorted by name. */
  readonly problems: readonly StorageProblem[];
}

/** Everything blindsync asks of the untrusted side, composed of the interfaces above. */
export interface Store
  extends ConfigStore, BlobStore, KeySlotStore, LockStore, GenerationStore {
  /** True when deletes are refused (`serve --append-only`): rules/append-only.ts lists them. */
  readonly appendOnly: boolean;

  /**
   * Hands the store the repository's index authenticator, right after the repository is
   * created or unlocked. Only stores that keep an index of their own on dumb storage (the pack
   * store) implement it; until it is called they serve only what needs no key.
   */
  authenticate?(authenticator: IndexAuthenticator): void;

  /**
   * Checks the objects a store keeps of its own on dumb storage, for `check`: only the pack
   * store implements it (a SQLite file has its own integrity check, and blobs are checked
   * above the seam either way). Reports the index segments and the packs no segment names
   * that it refused, and, for the packs `readPacks` selects, reads each whole and checks its
   * SHA-256 against its name and its trailer's MAC and entries against the index. Needs the
   * authenticator; resolves with what it found rather than throwing for damage.
   */
  checkStorage?(options: StorageCheckOptions): Promise<StorageCheck>;

  /**
   * Makes every blob put with `{ buffer: true }` so far durable (a sync point: a backup calls
   * it before it records blobs as stored, and before its snapshot). Only stores that buffer
   * implement it; a put without the option, or of a snapshot, flushes too.
   */
  flush?(): Promise<void>;

  /**
   * A read hint: these blobs will be asked for with get() soon, roughly in this order (a
   * restore names a directory's small files before it fetches them). Ids only, so the seam
   * stays keyless and learns nothing `get` would not tell it. Never a promise: a store may
   * drop any hint, and a blob hinted but never asked for, or asked for without a hint, reads as
   * always. Only the pack store implements it (it reads a pack's expected blobs together);
   * SQLite, memory and remote stores gain nothing from it, and no protocol message carries it.
   */
  expect?(ids: readonly BlobId[]): void;

  /** Releases the store. Idempotent; no other method may be called afterwards. */
  close(): Promise<void>;
}
