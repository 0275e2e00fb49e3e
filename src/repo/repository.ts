/**
 * Repository: a Store plus the keys that make its blobs meaningful. It creates and unlocks
 * repositories, seals and opens blobs (every read is authenticated and its id re-checked
 * against the plaintext), and reads and writes trees and snapshots. Plaintext crosses this
 * layer only towards the engine; the store below sees ciphertext and opaque ids alone.
 *
 * Length: just over 400 lines as the repo layer's one front (create, unlock, blobs, trees,
 * snapshots, keys); the formats and the sealer it calls live in their own modules.
 */
import { randomBytes } from "node:crypto";
import { BlindsyncError } from "../errors.js";
import { DEFAULT_SCRYPT, type ScryptParams } from "../crypto/index.js";
import {
  DEFAULT_CHUNKER_PARAMS,
  gearTableFromKey,
  type ChunkerParams,
} from "../chunker/index.js";
import type { BlobId, BlobKind, BlobToPut, Store } from "../store/index.js";
import { toHex } from "../util/bytes.js";
import {
  UnauthenticatedBlobError,
  openBlob,
  type CompressionMode,
} from "./blob-codec.js";
import {
  encodeConfig,
  parseConfig,
  verifyConfig,
  type RepositoryConfig,
} from "./config.js";
import {
  MAX_KDF_RUNS_PER_UNLOCK,
  classifyKeySlots,
  createKeySlot,
  deriveSubkeys,
  fileChecksumKey,
  indexAuthenticator,
  keyCheckValue,
  openKeySlot,
  planUnlock,
  type DeriveKek,
  type SlotPreference,
  type UnreadableKeySlot,
} from "./keys.js";
import {
  decodeSnapshot,
  encodeSnapshot,
  sortSnapshots,
  type Snapshot,
  type SnapshotRecord,
} from "./snapshot.js";
import { Sealer, type SealerSpec } from "./sealer.js";
import { decodeTree, encodeTree, type Tree } from "./tree.js";
import { chunkIdsChecksum, type FileChecksum } from "./file-checksum.js";

type Subkeys = ReturnType<typeof deriveSubkeys>;

export interface CreateOptions {
  readonly scrypt?: Omit<ScryptParams, "salt">;
  readonly chunker?: ChunkerParams;
}

export interface OpenOptions {
  /** Which slot to try first: the one this client opened last, or one the user named. */
  readonly preference?: SlotPreference;
  /**
   * Receives one line for each record skipped as unreadable: a key slot that does not parse, a
   * snapshot blob that does not authenticate. The repository never prints.
   */
  readonly onWarning?: (message: string) => void;
  /** At most this many KDF runs (default MAX_KDF_RUNS_PER_UNLOCK). */
  readonly maxKdfRuns?: number;
}

/** A snapshot blob that does not authenticate under this repository's keys: never a snapshot. */
export interface UndecodableSnapshot {
  readonly id: BlobId;
  readonly reason: string;
  /**
   * True when the blob authenticates but its record does not decode: someone holding the keys
   * wrote it. False for garbage anyone who can write to the store could have put there.
   */
  readonly authenticated: boolean;
}

/** Largest plaintext a tree or snapshot may decode to; data blobs are capped by maxSize. */
const MAX_METADATA_PLAINTEXT = 256 * 1024 * 1024;

function unreadableSlotWarning(slot: UnreadableKeySlot): string {
  return (
    `key slot ${slot.name} skipped: ${slot.reason}; no passphrase can open it. ` +
    "`blindsync check` reports it and `blindsync repair` removes it"
  );
}

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
  /** How many KDFs the unlock ran (1 when the slot this client opened last still opens). */
  kdfRuns = 0;
  private readonly master: Uint8Array;
  private readonly keys: Subkeys;
  private readonly sealer: Sealer;
  private readonly fileChecksumKey: Uint8Array;
  private readonly onWarning: (message: string) => void;
  /** Hex ids of the undecodable snapshot blobs already warned about. */
  private readonly warned = new Set<string>();

  private constructor(
    store: Store,
    config: RepositoryConfig,
    master: Uint8Array,
    keySlotName: string,
    keySlotBytes: Uint8Array,
    onWarning: (message: string) => void = () => undefined,
  ) {
    this.store = store;
    this.config = config;
    this.master = master;
    this.keys = deriveSubkeys(master, config.repositoryId);
    this.fileChecksumKey = fileChecksumKey(master, config.repositoryId);
    this.sealer = new Sealer(this.keys, config.repositoryId, {
      fileChecksumKey: this.fileChecksumKey,
    });
    this.keySlotName = keySlotName;
    this.keySlotBytes = keySlotBytes;
    this.gear = gearTableFromKey(this.keys.chunkerKey);
    this.onWarning = onWarning;
    // Right after create or unlock: a pack store needs the index MAC before any blob operation.
    store.authenticate?.(indexAuthenticator(master, config.repositoryId));
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
   * Unlocks the repository with a passphrase. Every key slot is parsed and its parameters
   * bounds-checked before any KDF runs; slots that cannot be key slots at all are skipped with
   * a warning (anyone who can write to the store can add one). The preferred slot (the one
   * this client opened last) is tried first and at most `maxKdfRuns` KDFs run. A passphrase
   * no tried slot accepts is a 'wrong-passphrase' error that names the slots left untried.
   */
  static async open(
    store: Store,
    passphrase: Uint8Array,
    derive?: DeriveKek,
    options: OpenOptions = {},
  ): Promise<Repository> {
    const configBytes = await store.readConfig();
    const config = parseConfig(configBytes);
    const { readable, unreadable } = classifyKeySlots(
      await store.listKeySlots(),
    );
    const warn = options.onWarning ?? (() => undefined);
    for (const slot of unreadable) warn(unreadableSlotWarning(slot));
    const { tryOrder, untried } = planUnlock(
      readable,
      options.preference,
      options.maxKdfRuns ?? MAX_KDF_RUNS_PER_UNLOCK,
    );
    let kdfRuns = 0;
    for (const slot of tryOrder) {
      kdfRuns += 1;
      const master = await openKeySlot(
        passphrase,
        slot.bytes,
        config.repositoryId,
        derive,
      );
      if (master === undefined) continue;
      const keys = deriveSubkeys(master, config.repositoryId);
      verifyConfig(configBytes, keys.configKey);
      const repo = new Repository(
        store,
        config,
        master,
        slot.name,
        slot.bytes,
        warn,
      );
      repo.kdfRuns = kdfRuns;
      return repo;
    }
    // Only unusable slots: the first one's own error says why (out-of-bounds parameters are a
    // "rollback", malformed bytes "integrity"), as before unusable slots were skipped.
    const [firstUnreadable] = unreadable;
    if (readable.length === 0 && firstUnreadable !== undefined)
      throw firstUnreadable.error;
    if (untried.length > 0) {
      throw new BlindsyncError(
        "wrong-passphrase",
        `No key slot of the ${tryOrder.length} tried (${tryOrder.map((slot) => slot.name).join(", ")}) matches this passphrase; ` +
          `${untried.length} more were not tried, to bound the KDF work one unlock may spend: ${untried.join(", ")}`,
        {
          hint:
            "Check the passphrase. If one of the untried slots is yours, name it with BLINDSYNC_KEY_SLOT=NAME; " +
            "a client that opens the repository lists the slots with `blindsync key list` and removes unknown ones with `blindsync key remove`",
        },
      );
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
    return this.sealer.blobId(plaintext);
  }

  /**
   * The whole-file checksum backups record (kind `chunk-ids`, file-checksum.ts): a keyed hash
   * over the file's size and ordered chunk ids, so no second pass over the file's bytes.
   */
  fileChecksum(size: number, content: readonly BlobId[]): FileChecksum {
    return chunkIdsChecksum(this.fileChecksumKey, size, content);
  }

  /** Encrypts a plaintext whose id the caller computed with blobId(). */
  seal(
    kind: BlobKind,
    id: BlobId,
    plaintext: Uint8Array,
    compression: CompressionMode = "auto",
  ): BlobToPut {
    return {
      id,
      kind,
      bytes: this.sealer.seal(kind, id, plaintext, compression),
    };
  }

  /**
   * The capability a sealing worker thread turns into a sealer of its own
   * (Sealer.fromSpec), with its own session, so nonces stay unique. Opaque to the engine.
   */
  sealerSpec(): SealerSpec {
    return this.sealer.spec();
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

  /** Tells the store these blobs will be loaded soon, roughly in this order (Store.expect). */
  expect(ids: readonly BlobId[]): void {
    this.store.expect?.(ids);
  }

  /** A format-5 tree's derived checksums are computed under this repository's keys. */
  async loadTree(id: BlobId): Promise<Tree> {
    return decodeTree(await this.load("tree", id), this);
  }

  /** Encodes and seals a tree; the caller uploads the result (trees dedupe by id). */
  sealTree(tree: Tree): BlobToPut {
    const plaintext = encodeTree(tree);
    return this.seal("tree", this.blobId(plaintext), plaintext);
  }

  async loadSnapshot(id: BlobId): Promise<Snapshot> {
    return decodeSnapshot(id, await this.load("snapshot", id));
  }

  /**
   * Every snapshot blob, fetched together (pipelined): the snapshots, each authenticated and
   * sorted oldest first, and the blobs that do not authenticate under this repository's keys
   * (garbage, or another repository's: anyone who can write to the store can put one), or
   * that authenticate but do not decode (a key holder's forgery). Neither stops the listing.
   */
  async readSnapshots(): Promise<{
    readonly snapshots: Snapshot[];
    readonly undecodable: UndecodableSnapshot[];
  }> {
    const ids: BlobId[] = [];
    for await (const info of this.store.list("snapshot")) ids.push(info.id);
    const snapshots: Snapshot[] = [];
    const undecodable: UndecodableSnapshot[] = [];
    const loaded = await Promise.all(
      ids.map((id) =>
        // The store's own failures (a missing blob, a damaged database) still throw; only what
        // the bytes say is judged here.
        this.store.get(id).then((bytes): Snapshot | UndecodableSnapshot => {
          try {
            return decodeSnapshot(id, this.open("snapshot", id, bytes));
          } catch (error) {
            if (error instanceof UnauthenticatedBlobError)
              return { id, reason: error.message, authenticated: false };
            // It authenticated, so a key holder forged it (a newer record format would come
            // with a newer config version, refused before this point). No client can ever
            // read it: skipped like garbage rather than making every command exit 13.
            if (error instanceof BlindsyncError && error.kind === "integrity")
              return { id, reason: error.message, authenticated: true };
            throw error;
          }
        }),
      ),
    );
    for (const item of loaded) {
      if ("seq" in item) snapshots.push(item);
      else undecodable.push(item);
    }
    return { snapshots: sortSnapshots(snapshots), undecodable };
  }

  /**
   * Every snapshot, oldest first; each one authenticated. Snapshot blobs that cannot be read
   * are skipped, each with one warning (check reports them, repair removes them).
   */
  async listSnapshots(): Promise<Snapshot[]> {
    const { snapshots, undecodable } = await this.readSnapshots();
    for (const blob of undecodable) {
      const hex = toHex(blob.id);
      if (this.warned.has(hex)) continue;
      this.warned.add(hex);
      this.onWarning(
        `snapshot blob ${hex.slice(0, 16)} skipped: ${undecodableWhy(blob)}; ` +
          "`blindsync check` reports it and `blindsync repair` removes it",
      );
    }
    return snapshots;
  }

  /**
   * The stored key slots that no passphrase can open because they are not key slots at all
   * (malformed, or out-of-bounds KDF parameters). Slots that parse are never listed: they may
   * be other users'.
   */
  async unreadableKeySlots(): Promise<UnreadableKeySlot[]> {
    return classifyKeySlots(await this.store.listKeySlots()).unreadable;
  }

  /**
   * Seals and stores a snapshot record. Its blobs must already be durable in the store. A
   * backup passes its compression mode, so `off` leaves no blob of the run compressed.
   */
  async saveSnapshot(
    record: SnapshotRecord,
    compression: CompressionMode = "auto",
  ): Promise<Snapshot> {
    const plaintext = encodeSnapshot(record);
    const blob = this.seal(
      "snapshot",
      this.blobId(plaintext),
      plaintext,
      compression,
    );
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

/** Why a snapshot blob cannot be read, in words for a warning or a check finding. */
export function undecodableWhy(blob: UndecodableSnapshot): string {
  return blob.authenticated
    ? `it authenticates but its record does not decode (${blob.reason}): someone holding the keys wrote it`
    : `it does not authenticate under this repository's keys (${blob.reason})`;
}
