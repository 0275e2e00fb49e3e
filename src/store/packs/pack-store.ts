/**
 * PackStore: the Store on an ObjectStore (a directory, sftp, S3), below the trust seam: it
 * sees the same opaque ids, kinds and lengths the SQLite store behind `serve` sees, plus which
 * blobs share a pack. Blobs go into packs, the packs into authenticated index segments, the
 * merged index into a SQLite cache on the client; snapshots are objects of their own. The
 * format and its reasons are in docs/pack-format.md.
 *
 * Keyless until authenticate(): the config, key slots, locks, the generation, snapshot blobs
 * and scrub work on storage alone; everything that needs the index needs its MAC key.
 *
 * Over 400 lines: one method per Store call, each short; index syncing, filling packs,
 * writing, compaction, the storage check and leases already live in modules of their own.
 */
import { BlindsyncError } from "../../errors.js";
import { toHex } from "../../util/bytes.js";
import type { ObjectStore } from "../objects/index.js";
import {
  blobNotFoundError,
  checkBlobs,
  checkId,
  missingIn,
  refuseIfAppendOnly,
  type BlobTable,
} from "../rules/index.js";
import type {
  BlobId,
  BlobInfo,
  BlobKind,
  BlobToPut,
  IndexAuthenticator,
  KeySlot,
  LockAttempt,
  LockRequest,
  LocksRemoved,
  PutOptions,
  StorageCheck,
  StorageCheckOptions,
  Store,
} from "../store.js";
import { compactPacks } from "./compact.js";
import { IndexCache } from "./index-cache.js";
import {
  INDEX_PREFIX,
  PACKS_PREFIX,
  SNAPSHOTS_PREFIX,
  contentId,
  packIdOf,
  packName,
  segmentIdOf,
  snapshotIdOf,
  snapshotName,
} from "./layout.js";
import { Leases } from "./leases.js";
import { PackReadAhead } from "./read-ahead.js";
import { PackFiller } from "./pack-filler.js";
import { PackRecords } from "./records.js";
import { IndexSync } from "./index-sync.js";
import { checkPackStorage } from "./storage-check.js";
import { labelledMac } from "./wire.js";
import {
  writeSegments,
  type PackRecord,
  type WriterContext,
} from "./writer.js";

export interface PackStoreOptions {
  readonly appendOnly?: boolean;
  /** The merged index's SQLite file in the client's cache; in memory when absent. */
  readonly indexCachePath?: string;
  /** Bytes of blobs per pack (default 8 MiB: docs/pack-format.md, "Why 8 MiB"). */
  readonly packSize?: number;
  /** Entries per index segment (default 65536: a segment of about 3 MiB). */
  readonly segmentEntries?: number;
  /**
   * How often at most an unknown id makes the store list index/ for segments other clients
   * wrote (default 10 s), to keep round trips over sftp few.
   */
  readonly refreshIntervalMs?: number;
}

export const DEFAULT_PACK_SIZE = 8 * 1024 * 1024;
const DEFAULT_SEGMENT_ENTRIES = 65_536;
const DEFAULT_REFRESH_MS = 10_000;
/** Rows per query of list(): bounded memory. */
const PAGE_ROWS = 1000;

/**
 * Temporary files untouched this long are a dead writer's, and compact removes them. A put
 * writes its temporary from start to end, so a live one was written to moments ago; an hour
 * is far beyond any stall a writer survives (its lease lapses after a minute unrenewed).
 */
export const TEMPORARY_AGE_MS = 60 * 60 * 1000;

/** What a pack repository's index refused to believe (for `check`). */
export interface PackIndexReport {
  /** Segments whose MAC or layout failed: none of their entries is believed. */
  readonly rejectedSegments: readonly string[];
  /** Packs no segment names whose trailer failed: not indexed. */
  readonly rejectedPacks: readonly string[];
}

export class PackStore implements Store {
  readonly appendOnly: boolean;
  readonly #objects: ObjectStore;
  readonly #cache: IndexCache;
  readonly #records: PackRecords;
  readonly #leases: Leases;
  readonly #packSize: number;
  readonly #segmentEntries: number;
  #authenticator: IndexAuthenticator | undefined;
  readonly #sync: IndexSync;
  /** #indexUnnamedPacks has run (it runs at most once). */
  #unnamedIndexed = false;
  readonly #readAhead: PackReadAhead;
  readonly #filler = new PackFiller();
  #closed = false;

  constructor(objects: ObjectStore, options: PackStoreOptions = {}) {
    this.#objects = objects;
    this.appendOnly = options.appendOnly ?? false;
    this.#cache = IndexCache.open(options.indexCachePath ?? ":memory:");
    this.#records = new PackRecords(objects, this.appendOnly);
    this.#leases = new Leases(objects, this.appendOnly);
    this.#packSize = options.packSize ?? DEFAULT_PACK_SIZE;
    this.#segmentEntries = options.segmentEntries ?? DEFAULT_SEGMENT_ENTRIES;
    this.#sync = new IndexSync(
      this.#cache,
      options.refreshIntervalMs ?? DEFAULT_REFRESH_MS,
    );
    this.#readAhead = new PackReadAhead({
      // A pack's bytes never change under its name (its SHA-256): sftp keeps it open.
      read: (region) =>
        objects.get(packName(region.pack), region, { unchanging: true }),
      locateMany: (ids) => this.#cache.locateMany(ids),
      extents: (pack, low, high) => this.#cache.extents(pack, low, high),
    });
  }

  /** Where the objects live, for messages. */
  get where(): string {
    return this.#objects.where;
  }

  authenticate(authenticator: IndexAuthenticator): void {
    this.#authenticator = authenticator;
    // A cache filled under another key (another repository at the same path) is emptied.
    this.#cache.useKey(
      labelledMac(
        authenticator,
        "blindsync/v1/index-cache\0",
        new Uint8Array(0),
      ),
    );
  }

  // Keyless records.

  readConfig(): Promise<Uint8Array> {
    return this.#run(() => this.#records.readConfig());
  }

  create(config: Uint8Array, firstKeySlot: KeySlot): Promise<void> {
    return this.#run(() => this.#records.create(config, firstKeySlot));
  }

  listKeySlots(): Promise<KeySlot[]> {
    return this.#run(() => this.#records.listKeySlots());
  }

  addKeySlot(slot: KeySlot): Promise<void> {
    return this.#run(() => this.#records.addKeySlot(slot));
  }

  removeKeySlot(name: string): Promise<void> {
    return this.#run(() => this.#records.removeKeySlot(name));
  }

  generation(): Promise<number> {
    return this.#run(() => this.#records.generation());
  }

  bumpGeneration(): Promise<number> {
    return this.#run(() => this.#records.bumpGeneration());
  }

  acquireLock(request: LockRequest): Promise<LockAttempt> {
    return this.#run(() => this.#leases.acquire(request));
  }

  refreshLock(id: string, leaseMs: number): Promise<void> {
    return this.#run(() => this.#leases.refresh(id, leaseMs));
  }

  releaseLock(id: string): Promise<void> {
    return this.#run(() => this.#leases.release(id));
  }

  removeLocks(all: boolean): Promise<LocksRemoved> {
    return this.#run(() => this.#leases.remove(all));
  }

  // Blobs.

  missing(ids: readonly BlobId[]): Promise<BlobId[]> {
    return this.#run(async () => {
      ids.forEach(checkId);
      this.#context();
      // Packs storage lost are forgotten first: their blobs are missing, not stored.
      await this.#sync.packsListed(this.#context());
      const missing = missingIn(this.#table(ids), ids);
      if (missing.length === 0 || this.#sync.fresh()) return missing;
      // Ids it does not know may be another client's: look for new segments, now and then.
      await this.#sync.refresh(this.#context());
      return missingIn(this.#table(missing), missing);
    });
  }

  get(id: BlobId): Promise<Uint8Array> {
    return this.#run(async () => {
      checkId(id);
      if (this.#authenticator === undefined) {
        const snapshot = await this.#snapshot(id);
        if (snapshot !== undefined) return snapshot;
        this.#context();
      }
      await this.#sync.opened(this.#context());
      const unindexed = await this.#filler.read(this.#context(), id);
      if (unindexed !== undefined) return unindexed;
      // A blob a restore said it expects: its hint looked it up in the index already.
      const hinted = this.#readAhead.expectedRegion(id);
      if (hinted !== undefined)
        try {
          return await this.#readAhead.read(hinted);
        } catch (error) {
          if (!isNotFound(error)) throw error; // its pack is gone: every location is tried
        }
      for (let attempt = 0; attempt < 2; attempt++) {
        const locations = this.#cache.locateAll(id);
        // Any location may be read (duplicates from resume or concurrent writers): a pack that
        // is gone (another client's prune, or storage that lost it) is passed for the next.
        for (const location of locations) {
          try {
            return await this.#readAhead.read(location);
          } catch (error) {
            if (!isNotFound(error)) throw error;
          }
        }
        if (locations.length === 0) {
          const snapshot = await this.#snapshot(id);
          if (snapshot !== undefined) return snapshot;
        }
        if (attempt === 0) {
          await this.#sync.refresh(this.#context());
          await this.#indexUnnamedPacks();
        }
      }
      throw blobNotFoundError(id);
    });
  }

  /**
   * Blobs a restore will ask for soon: read together with the first of them asked for, each
   * pack's at once (read-ahead.ts). Ids the index does not know yet are passed over; needs the
   * index, so a hint before authenticate() or after close() is dropped.
   */
  expect(ids: readonly BlobId[]): void {
    if (this.#closed || this.#authenticator === undefined) return;
    this.#readAhead.expect(ids);
  }

  async *list(kind?: BlobKind): AsyncIterable<BlobInfo> {
    if (kind !== "snapshot") {
      await this.#run(async () => {
        this.#context();
        await this.#sync.opened(this.#context());
        if (!this.#sync.fresh()) await this.#sync.refresh(this.#context());
      });
      let after: Uint8Array = new Uint8Array(0);
      for (;;) {
        const page = await this.#run(() =>
          Promise.resolve(this.#cache.page(after, PAGE_ROWS, kind)),
        );
        yield* page;
        const last = page.at(-1);
        if (last === undefined || page.length < PAGE_ROWS) break;
        after = last.id;
      }
      if (kind !== undefined) return;
    }
    // Snapshots straight from their folder: listing history needs no index and no key.
    for await (const info of this.#objects.list(SNAPSHOTS_PREFIX)) {
      const id = snapshotIdOf(info.name);
      if (id !== undefined) yield { id, kind: "snapshot", length: info.size };
    }
  }

  /**
   * Blobs go into packs of about the pack size: with `{ buffer: true }` (a backup's batches)
   * they may wait in an open pack until flush(); without it, or with a snapshot among them,
   * everything put so far is stored and indexed before this resolves (pack-filler.ts).
   */
  put(blobs: readonly BlobToPut[], options: PutOptions = {}): Promise<void> {
    return this.#run(async () => {
      checkBlobs(blobs);
      if (blobs.length === 0) return;
      const packed = blobs.some((blob) => blob.kind !== "snapshot");
      if (packed || this.#authenticator !== undefined) {
        const context = this.#context();
        await this.#sync.writerReady(context);
      }
      const known =
        this.#authenticator === undefined
          ? undefined
          : this.#cache.knownAmong(blobs.map((blob) => blob.id));
      const fresh = new Map<string, BlobToPut>();
      for (const blob of blobs) {
        const key = toHex(blob.id);
        if (fresh.has(key)) continue;
        if (
          known !== undefined &&
          (known.has(key) || this.#filler.has(blob.id))
        )
          continue;
        fresh.set(key, blob);
      }
      const snapshots = [...fresh.values()].filter(
        (blob) => blob.kind === "snapshot",
      );
      if (packed) await this.#filler.add(this.#context(), [...fresh.values()]);
      // Pack, then segment, then snapshot: a snapshot never names a blob no segment indexes.
      const syncPoint = options.buffer !== true || snapshots.length > 0;
      if (syncPoint && this.#authenticator !== undefined)
        await this.#filler.flush(this.#context());
      for (const blob of snapshots) {
        const name = snapshotName(blob.id);
        if ((await this.#objects.stat(name)) === undefined)
          await this.#objects.put(name, blob.bytes);
        this.#cache.addSnapshot(blob.id, blob.bytes.length);
      }
    });
  }

  /** Stores and indexes every blob put with `{ buffer: true }` so far. */
  flush(): Promise<void> {
    return this.#run(async () => {
      if (this.#authenticator !== undefined)
        await this.#filler.flush(this.#context());
    });
  }

  delete(ids: readonly BlobId[]): Promise<void> {
    return this.#run(async () => {
      refuseIfAppendOnly(this.appendOnly, "delete blobs");
      ids.forEach(checkId);
      await this.#filler.flush(this.#context());
      await this.#sync.opened(this.#context());
      if (!this.#sync.fresh()) await this.#sync.refresh(this.#context());
      // Tombstones name each (blob, pack), so a later put of the same id stays alive.
      const tombstones = new Map<string, { pack: string; ids: BlobId[] }>();
      for (const id of ids) {
        const packs = this.#cache.packsOf(id);
        for (const { pack } of packs) {
          const entry = tombstones.get(pack) ?? { pack, ids: [] };
          entry.ids.push(id.slice());
          tombstones.set(pack, entry);
        }
        if (packs.length === 0) {
          await this.#objects.delete(snapshotName(id));
          this.#cache.removeSnapshot(id);
        }
      }
      const records: PackRecord[] = [];
      for (const { pack, ids: dead } of tombstones.values()) {
        const info = this.#cache.packInfo(pack);
        if (info === undefined) continue;
        records.push({
          pack: { id: pack, ...info },
          entries: [],
          tombstones: dead,
        });
      }
      if (records.length > 0) await writeSegments(this.#context(), records);
    });
  }

  compact(): Promise<void> {
    return this.#run(async () => {
      refuseIfAppendOnly(this.appendOnly, "compact");
      const context = this.#context();
      await this.#filler.flush(context);
      await this.#sync.opened(this.#context());
      await this.#sync.refresh(this.#context());
      await compactPacks(context);
      await this.#objects.sweepTemporaries?.(TEMPORARY_AGE_MS);
    });
  }

  /**
   * Re-hashes every pack and index segment and yields the names of those whose SHA-256 is not
   * their name: bit rot and tampering found without any key.
   */
  async *scrub(): AsyncIterable<string> {
    for (const prefix of [PACKS_PREFIX, INDEX_PREFIX]) {
      for await (const info of this.#objects.list(prefix)) {
        const id =
          prefix === PACKS_PREFIX
            ? packIdOf(info.name)
            : segmentIdOf(info.name);
        const bytes = await this.#run(() => this.#objects.get(info.name));
        if (id === undefined || contentId(bytes) !== id) yield info.name;
      }
    }
  }

  checkStorage(options: StorageCheckOptions): Promise<StorageCheck> {
    return this.#run(() =>
      checkPackStorage(this.#context(), this.#sync, options),
    );
  }

  /** What the index refused to believe so far. */
  indexReport(): PackIndexReport {
    return {
      rejectedSegments: this.#cache.rejected(),
      rejectedPacks: [...this.#sync.rejectedPacks].sort(),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cache.close();
    await this.#objects.close();
  }

  /** The writer's context; throws when no authenticator was handed down yet. */
  #context(): WriterContext {
    const authenticator = this.#authenticator;
    if (authenticator === undefined)
      throw new BlindsyncError(
        "failed",
        `The pack repository at ${this.#objects.where} needs the passphrase for this: its index is authenticated`,
        { hint: "Open the repository with its passphrase first" },
      );
    return {
      objects: this.#objects,
      cache: this.#cache,
      authenticator,
      packSize: this.#packSize,
      segmentEntries: this.#segmentEntries,
    };
  }

  /**
   * Indexes the packs no segment names from their trailers, once per store, for a reader that
   * finds a blob missing: a backup does it before its first write (the resume), but a segment
   * storage lost or damaged, or a backup killed before its segment, must not leave a new
   * client's restore unable to read what the packs still hold (the snapshot's trees included).
   * Writes their segment, as the resume does. A failure (storage that refuses the write, say)
   * leaves the blob missing, as before. missing() does not do this: a backup's first put
   * resumes anyway, and put() asks the index again, so such blobs are sealed but not sent.
   */
  async #indexUnnamedPacks(): Promise<void> {
    if (this.#unnamedIndexed) return;
    this.#unnamedIndexed = true;
    try {
      await this.#sync.writerReady(this.#context());
    } catch {
      // The get goes on as before and reports the blob missing.
    }
  }

  /** The blob table as missing() asks it about `ids`: the index looked up in batches first. */
  #table(ids: readonly BlobId[]): BlobTable {
    const known = this.#cache.knownAmong(ids);
    return {
      has: (id) => known.has(toHex(id)) || this.#filler.has(id),
      insert: () => undefined,
      remove: () => undefined,
    };
  }

  async #snapshot(id: BlobId): Promise<Uint8Array | undefined> {
    try {
      return await this.#objects.get(snapshotName(id));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async #run<T>(action: () => Promise<T> | T): Promise<T> {
    if (this.#closed) throw new TypeError("The store is closed");
    return action();
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof BlindsyncError && error.kind === "not-found";
}
