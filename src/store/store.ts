/**
 * The Store: the untrusted side of blindsync, and its trust boundary. A Store keeps opaque,
 * already-encrypted blobs under opaque 32-byte ids, plus the repository's opaque config record
 * and key slots. It never sees a key, a name or a byte of plaintext, and callers must not trust
 * anything it returns without authenticating it (the repo layer does).
 *
 * Small, byte-oriented and batch-first, so that the same interface can sit on SQLite, on a pipe
 * to `blindsync serve`, or later on object storage.
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

/** The read side, enough for restore, ls, cat, diff and check. */
export interface ReadonlyStore {
  /**
   * Returns the config record written by `create`.
   * Throws BlindsyncError('no-repository') when there is no repository at this location.
   */
  readConfig(): Promise<Uint8Array>;

  /** Every key slot, ordered by name. */
  listKeySlots(): Promise<KeySlot[]>;

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

  /** Releases the store. Idempotent; no other method may be called afterwards. */
  close(): Promise<void>;
}

export interface Store extends ReadonlyStore {
  /** True when deletes are refused (`serve --append-only`). */
  readonly appendOnly: boolean;

  /**
   * Creates the repository with its config record and first key slot, atomically.
   * Throws BlindsyncError('failed') when a repository already exists here.
   */
  create(config: Uint8Array, firstKeySlot: KeySlot): Promise<void>;

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

  /**
   * Stores blobs. Idempotent: an id already present is left as it is (never overwritten), so a
   * retried or concurrent upload is harmless. All of the batch is durable when the promise
   * resolves (synchronous=FULL on SQLite). Throws RangeError for an id that is not 32 bytes.
   */
  put(blobs: readonly BlobToPut[]): Promise<void>;

  /**
   * Deletes blobs; absent ids are ignored. Throws BlindsyncError('append-only') on an
   * append-only store, before deleting anything.
   */
  delete(ids: readonly BlobId[]): Promise<void>;
}
