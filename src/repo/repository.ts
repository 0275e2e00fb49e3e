/**
 * Repository: a Store plus the keys that make its blobs meaningful. It creates and unlocks
 * repositories, seals and opens blobs (every read is authenticated and its id re-checked
 * against the plaintext), and reads and writes trees and snapshots. Plaintext crosses this
 * layer only towards the engine; the store below sees ciphertext and opaque ids alone.
 */
import { randomBytes } from "node:crypto";
import { BlindsyncError } from "../errors.js";
import {
  DEFAULT_SCRYPT,
  SealingSession,
  keyedId,
  type ScryptParams,
} from "../crypto/index.js";
import {
  DEFAULT_CHUNKER_PARAMS,
  gearTableFromKey,
  type ChunkerParams,
} from "../chunker/index.js";
import type { BlobId, BlobKind, BlobToPut, Store } from "../store/index.js";
import { toHex } from "../util/bytes.js";
import { openBlob, sealBlob } from "./blob-codec.js";
import {
  encodeConfig,
  parseConfig,
  verifyConfig,
  type RepositoryConfig,
} from "./config.js";
import {
  createKeySlot,
  deriveSubkeys,
  keyCheckValue,
  openKeySlot,
  parseKeySlot,
  type DeriveKek,
} from "./keys.js";
import {
  decodeSnapshot,
  encodeSnapshot,
  sortSnapshots,
  type Snapshot,
  type SnapshotRecord,
} from "./snapshot.js";
import { decodeTree, encodeTree, type Tree } from "./tree.js";

type Subkeys = ReturnType<typeof deriveSubkeys>;

export interface SealerParams {
  readonly encKey: Uint8Array;
  readonly idKey: Uint8Array;
  readonly repositoryId: Uint8Array;
}

export interface CreateOptions {
  readonly scrypt?: Omit<ScryptParams, "salt">;
  readonly chunker?: ChunkerParams;
}

/** Largest plaintext a tree or snapshot may decode to; data blobs are capped by maxSize. */
const MAX_METADATA_PLAINTEXT = 256 * 1024 * 1024;

export function newKeySlotName(): string {
  return randomBytes(8).toString("hex");
}

export class Repository {
  readonly store: Store;
  readonly config: RepositoryConfig;
  readonly gear: Int32Array;
  /** Which key slot the passphrase opened. */
  readonly keySlotName: string;
  /** The key slot that opened this repository, as stored (public; see early-kdf.ts). */
  readonly keySlotBytes: Uint8Array;
  private readonly master: Uint8Array;
  private readonly keys: Subkeys;
  private session = new SealingSession();

  private constructor(
    store: Store,
    config: RepositoryConfig,
    master: Uint8Array,
    keySlotName: string,
    keySlotBytes: Uint8Array,
  ) {
    this.store = store;
    this.config = config;
    this.master = master;
    this.keys = deriveSubkeys(master, config.repositoryId);
    this.keySlotName = keySlotName;
    this.keySlotBytes = keySlotBytes;
    this.gear = gearTableFromKey(this.keys.chunkerKey);
  }

  /** Creates a new repository in an empty store and returns it unlocked. */
  static async create(
    store: Store,
    passphrase: Uint8Array,
    options: CreateOptions = {},
  ): Promise<Repository> {
    const master = new Uint8Array(randomBytes(32));
    const config: RepositoryConfig = {
      repositoryId: new Uint8Array(randomBytes(32)),
      chunker: options.chunker ?? DEFAULT_CHUNKER_PARAMS,
    };
    const keys = deriveSubkeys(master, config.repositoryId);
    const scrypt = {
      ...DEFAULT_SCRYPT,
      ...options.scrypt,
      salt: new Uint8Array(randomBytes(32)),
    };
    const slot = {
      name: newKeySlotName(),
      bytes: await createKeySlot(
        passphrase,
        master,
        config.repositoryId,
        scrypt,
      ),
    };
    await store.create(encodeConfig(config, keys.configKey), slot);
    return new Repository(store, config, master, slot.name, slot.bytes);
  }

  /** Reads the config without unlocking: enough to pin and compare repository ids. */
  static async readConfig(store: Store): Promise<RepositoryConfig> {
    return parseConfig(await store.readConfig());
  }

  /**
   * Unlocks the repository with a passphrase. Every key slot's parameters are checked before
   * any KDF runs; a passphrase no slot accepts is a 'wrong-passphrase' error.
   */
  static async open(
    store: Store,
    passphrase: Uint8Array,
    derive?: DeriveKek,
  ): Promise<Repository> {
    const configBytes = await store.readConfig();
    const config = parseConfig(configBytes);
    const slots = await store.listKeySlots();
    for (const slot of slots) parseKeySlot(slot.bytes);
    for (const slot of slots) {
      const master = await openKeySlot(
        passphrase,
        slot.bytes,
        config.repositoryId,
        derive,
      );
      if (master === undefined) continue;
      const keys = deriveSubkeys(master, config.repositoryId);
      verifyConfig(configBytes, keys.configKey);
      return new Repository(store, config, master, slot.name, slot.bytes);
    }
    throw new BlindsyncError(
      "wrong-passphrase",
      "No key slot matches this passphrase",
      {
        hint: "Check BLINDSYNC_PASSWORD, --password-file or --password-command",
      },
    );
  }

  get id(): Uint8Array {
    return this.config.repositoryId;
  }

  /** Pinned by clients to recognise the same keys later (not secret). */
  get keyCheckValue(): Uint8Array {
    return keyCheckValue(this.keys);
  }

  /** The keyed id of a plaintext: HMAC-SHA256 under the id key. */
  blobId(plaintext: Uint8Array): BlobId {
    return keyedId(this.keys.idKey, plaintext);
  }

  /** Encrypts a plaintext whose id the caller computed with blobId(). */
  seal(
    kind: BlobKind,
    id: BlobId,
    plaintext: Uint8Array,
    compress = true,
  ): BlobToPut {
    if (this.session.exhausted) this.session = new SealingSession();
    const bytes = sealBlob({
      keys: this.keys,
      repositoryId: this.config.repositoryId,
      session: this.session,
      kind,
      id,
      plaintext,
      compress,
    });
    return { id, kind, bytes };
  }

  /**
   * What a sealing worker thread needs to seal blobs of this repository: the encryption and
   * id keys and the repository id. Secret: it goes only to this process's own worker threads,
   * each of which draws its own session id, so nonces stay unique.
   */
  sealerParams(): SealerParams {
    return {
      encKey: this.keys.encKey,
      idKey: this.keys.idKey,
      repositoryId: this.config.repositoryId,
    };
  }

  /** Opens a stored blob's bytes, checking kind, authenticity and id. */
  open(
    kind: BlobKind,
    id: BlobId,
    bytes: Uint8Array,
    options: { readonly checkId?: boolean } = {},
  ): Uint8Array {
    return openBlob({
      ...options,
      keys: this.keys,
      repositoryId: this.config.repositoryId,
      id,
      expectedKind: kind,
      bytes,
      maxPlaintext:
        kind === "data" ? this.config.chunker.maxSize : MAX_METADATA_PLAINTEXT,
    });
  }

  /** Fetches and opens a blob; `checkId: false` skips re-hashing it (see OpenBlobOptions). */
  async load(
    kind: BlobKind,
    id: BlobId,
    options: { readonly checkId?: boolean } = {},
  ): Promise<Uint8Array> {
    return this.open(kind, id, await this.store.get(id), options);
  }

  async loadTree(id: BlobId): Promise<Tree> {
    return decodeTree(await this.load("tree", id));
  }

  /** Encodes and seals a tree; the caller uploads the result (trees dedupe by id). */
  sealTree(tree: Tree): BlobToPut {
    const plaintext = encodeTree(tree);
    return this.seal("tree", this.blobId(plaintext), plaintext);
  }

  async loadSnapshot(id: BlobId): Promise<Snapshot> {
    return decodeSnapshot(id, await this.load("snapshot", id));
  }

  /** Every snapshot, oldest first; each one authenticated. Fetched together (pipelined). */
  async listSnapshots(): Promise<Snapshot[]> {
    const ids: BlobId[] = [];
    for await (const info of this.store.list("snapshot")) ids.push(info.id);
    const snapshots = await Promise.all(ids.map((id) => this.loadSnapshot(id)));
    return sortSnapshots(snapshots);
  }

  /** Seals and stores a snapshot record. Its blobs must already be durable in the store. */
  async saveSnapshot(record: SnapshotRecord): Promise<Snapshot> {
    const plaintext = encodeSnapshot(record);
    const blob = this.seal("snapshot", this.blobId(plaintext), plaintext);
    await this.store.put([blob]);
    return { ...record, id: blob.id };
  }

  /** Adds a key slot for another passphrase; returns its name. */
  async addKey(
    passphrase: Uint8Array,
    scrypt?: Omit<ScryptParams, "salt">,
  ): Promise<string> {
    const master = this.master;
    const params = {
      ...DEFAULT_SCRYPT,
      ...scrypt,
      salt: new Uint8Array(randomBytes(32)),
    };
    const name = newKeySlotName();
    await this.store.addKeySlot({
      name,
      bytes: await createKeySlot(passphrase, master, this.id, params),
    });
    return name;
  }

  describe(): string {
    return toHex(this.id).slice(0, 8);
  }
}
