/**
 * The sealer: the one object that seals blobs of a repository and computes their keyed ids.
 * `Repository` holds one, and each sealing worker thread builds its own from a SealerSpec, an
 * opaque capability the repository hands out. Only this module looks inside a spec, so the
 * encryption and id keys never appear in engine/ code: the engine passes the spec to its
 * workers as it received it.
 *
 * Each sealer draws its own random session (SealingSession) and starts a fresh one when it
 * runs out, so nonces never repeat across sealers, workers, processes or restarts.
 */
import { SealingSession, keyedId } from "../crypto/index.js";
import type { BlobId, BlobKind } from "../store/index.js";
import { sealBlob, type BlobKeys, type CompressionMode } from "./blob-codec.js";
import { chunkIdsChecksum, type FileChecksum } from "./file-checksum.js";

declare const sealerSpecBrand: unique symbol;

/**
 * What a worker thread needs to seal blobs of one repository. Opaque outside repo/ (it holds
 * the keys); it survives structured cloning, so it can be given to a Worker as workerData.
 * Secret: it goes only to this process's own worker threads.
 */
export interface SealerSpec {
  readonly [sealerSpecBrand]: true;
}

/** A spec's actual contents: written and read only here. */
interface SpecContents {
  readonly encKey: Uint8Array;
  readonly idKey: Uint8Array;
  readonly repositoryId: Uint8Array;
  readonly fileChecksumKey: Uint8Array | undefined;
}

export interface SealerOptions {
  /** Seals per session before a new one is drawn; tests lower it (see SealingSession). */
  readonly sealLimit?: bigint;
  /**
   * The key of whole-file checksums (fileChecksum()); without it the sealer computes none.
   * A worker that digests whole small files needs it (docs/performance.md, round four).
   */
  readonly fileChecksumKey?: Uint8Array;
}

export class Sealer {
  readonly #keys: BlobKeys;
  readonly #repositoryId: Uint8Array;
  readonly #sealLimit: bigint | undefined;
  readonly #fileChecksumKey: Uint8Array | undefined;
  #session: SealingSession;

  constructor(
    keys: BlobKeys,
    repositoryId: Uint8Array,
    options: SealerOptions = {},
  ) {
    this.#keys = { encKey: keys.encKey, idKey: keys.idKey };
    this.#repositoryId = repositoryId;
    this.#sealLimit = options.sealLimit;
    this.#fileChecksumKey = options.fileChecksumKey;
    this.#session = this.#newSession();
  }

  /** The sealer a spec describes, with a session of its own. */
  static fromSpec(spec: SealerSpec, options: SealerOptions = {}): Sealer {
    const contents = spec as unknown as SpecContents;
    return new Sealer(contents, contents.repositoryId, {
      ...(contents.fileChecksumKey === undefined
        ? {}
        : { fileChecksumKey: contents.fileChecksumKey }),
      ...options,
    });
  }

  /** A capability for another thread to build its own sealer of the same repository. */
  spec(): SealerSpec {
    const contents: SpecContents = {
      encKey: this.#keys.encKey,
      idKey: this.#keys.idKey,
      repositoryId: this.#repositoryId,
      fileChecksumKey: this.#fileChecksumKey,
    };
    return contents as unknown as SealerSpec;
  }

  /** The session id written into the blobs sealed next (not secret: it is in every header). */
  get sessionId(): Uint8Array {
    return this.#session.sessionId;
  }

  /** The keyed id of a plaintext: HMAC-SHA256 under the id key. */
  blobId(plaintext: Uint8Array): BlobId {
    return keyedId(this.#keys.idKey, plaintext);
  }

  /**
   * The whole-file checksum backups record (kind `chunk-ids`): a keyed hash over the file's
   * size and ordered chunk ids. Throws for a sealer built without the key.
   */
  fileChecksum(size: number, content: readonly BlobId[]): FileChecksum {
    if (this.#fileChecksumKey === undefined)
      throw new TypeError("This sealer was built without a file checksum key");
    return chunkIdsChecksum(this.#fileChecksumKey, size, content);
  }

  /** Encrypts a plaintext whose id the caller computed with blobId(); returns the blob's bytes. */
  seal(
    kind: BlobKind,
    id: BlobId,
    plaintext: Uint8Array,
    compression: CompressionMode = "auto",
  ): Uint8Array {
    // A session never rotates itself (its id is in every blob it sealed): the sealer does.
    if (this.#session.exhausted) this.#session = this.#newSession();
    return sealBlob({
      keys: this.#keys,
      repositoryId: this.#repositoryId,
      session: this.#session,
      kind,
      id,
      plaintext,
      compression,
    });
  }

  #newSession(): SealingSession {
    return this.#sealLimit === undefined
      ? new SealingSession()
      : new SealingSession({ sealLimit: this.#sealLimit });
  }
}
