/**
 * A Store that keeps everything in memory: the reference implementation of the Store contracts,
 * used by tests of the layers above. Bytes are copied in and out, so no caller can alias (and
 * silently change) what the store holds.
 */

import { BlindsyncError } from "../../errors.js";
import { toHex } from "../../util/bytes.js";
import type {
  BlobId,
  BlobInfo,
  BlobKind,
  BlobToPut,
  KeySlot,
  LockAttempt,
  LockRequest,
  LocksRemoved,
  Store,
} from "../store.js";
import {
  appendOnlyError,
  blobNotFoundError,
  checkBlobToPut,
  checkId,
  keySlotExistsError,
  keySlotNotFoundError,
  lastKeySlotError,
} from "../checks.js";
import {
  acquireLockIn,
  refreshLockIn,
  removeLocksIn,
  type LockRecord,
  type LockTable,
} from "../locks.js";

export interface MemoryStoreOptions {
  readonly appendOnly?: boolean;
}

interface StoredBlob {
  readonly id: BlobId;
  readonly kind: BlobKind;
  readonly bytes: Uint8Array;
}

export class MemoryStore implements Store {
  readonly appendOnly: boolean;
  #config: Uint8Array | undefined;
  readonly #keySlots = new Map<string, Uint8Array>();
  /** Keyed by the hex of the id, since Uint8Array keys compare by identity. */
  readonly #blobs = new Map<string, StoredBlob>();
  readonly #locks = new Map<string, LockRecord>();
  readonly #lockTable: LockTable = mapLockTable(this.#locks);
  #generation = 0;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.appendOnly = options.appendOnly ?? false;
  }

  readConfig(): Promise<Uint8Array> {
    return this.#run(() => {
      if (this.#config === undefined) {
        throw new BlindsyncError(
          "no-repository",
          "No repository in this memory store",
        );
      }
      return this.#config.slice();
    });
  }

  listKeySlots(): Promise<KeySlot[]> {
    return this.#run(() =>
      [...this.#keySlots.entries()]
        .sort(([a], [b]) => compareStrings(a, b))
        .map(([name, bytes]) => ({ name, bytes: bytes.slice() })),
    );
  }

  missing(ids: readonly BlobId[]): Promise<BlobId[]> {
    return this.#run(() => {
      const seen = new Set<string>();
      const result: BlobId[] = [];
      for (const id of ids) {
        const key = blobKey(id);
        if (seen.has(key)) continue;
        seen.add(key);
        if (!this.#blobs.has(key)) result.push(id.slice());
      }
      return result;
    });
  }

  get(id: BlobId): Promise<Uint8Array> {
    return this.#run(() => {
      const blob = this.#blobs.get(blobKey(id));
      if (blob === undefined) throw blobNotFoundError(id);
      return blob.bytes.slice();
    });
  }

  async *list(kind?: BlobKind): AsyncIterable<BlobInfo> {
    // A snapshot of the blobs at the first step, so that deletes while iterating are safe.
    const blobs = await this.#run(() => [...this.#blobs.values()]);
    for (const blob of blobs) {
      if (kind !== undefined && blob.kind !== kind) continue;
      yield { id: blob.id.slice(), kind: blob.kind, length: blob.bytes.length };
    }
  }

  generation(): Promise<number> {
    return this.#run(() => this.#generation);
  }

  acquireLock(request: LockRequest): Promise<LockAttempt> {
    return this.#run(() =>
      acquireLockIn(this.#lockTable, request, this.appendOnly, Date.now()),
    );
  }

  refreshLock(id: string, leaseMs: number): Promise<void> {
    return this.#run(() => {
      refreshLockIn(this.#lockTable, id, leaseMs, Date.now());
    });
  }

  releaseLock(id: string): Promise<void> {
    return this.#run(() => {
      this.#lockTable.remove(id);
    });
  }

  removeLocks(all: boolean): Promise<LocksRemoved> {
    return this.#run(() =>
      removeLocksIn(this.#lockTable, all, this.appendOnly, Date.now()),
    );
  }

  bumpGeneration(): Promise<number> {
    return this.#run(() => {
      if (this.appendOnly) {
        throw new BlindsyncError(
          "append-only",
          "The repository is append-only: it cannot be pruned",
        );
      }
      this.#generation += 1;
      return this.#generation;
    });
  }

  compact(): Promise<void> {
    return this.#run(() => undefined);
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  create(config: Uint8Array, firstKeySlot: KeySlot): Promise<void> {
    return this.#run(() => {
      if (this.#config !== undefined) {
        throw new BlindsyncError(
          "failed",
          "A repository already exists in this memory store",
        );
      }
      this.#config = config.slice();
      this.#keySlots.set(firstKeySlot.name, firstKeySlot.bytes.slice());
    });
  }

  addKeySlot(slot: KeySlot): Promise<void> {
    return this.#run(() => {
      if (this.#keySlots.has(slot.name)) throw keySlotExistsError(slot.name);
      this.#keySlots.set(slot.name, slot.bytes.slice());
    });
  }

  removeKeySlot(name: string): Promise<void> {
    return this.#run(() => {
      if (this.appendOnly) throw appendOnlyError("remove a key slot");
      if (!this.#keySlots.has(name)) throw keySlotNotFoundError(name);
      if (this.#keySlots.size === 1) throw lastKeySlotError(name);
      this.#keySlots.delete(name);
    });
  }

  put(blobs: readonly BlobToPut[]): Promise<void> {
    return this.#run(() => {
      // The whole batch is checked first, so that a batch is all or nothing, as on SQLite.
      for (const blob of blobs) checkBlobToPut(blob);
      for (const blob of blobs) {
        const key = toHex(blob.id);
        if (this.#blobs.has(key)) continue;
        this.#blobs.set(key, {
          id: blob.id.slice(),
          kind: blob.kind,
          bytes: blob.bytes.slice(),
        });
      }
    });
  }

  delete(ids: readonly BlobId[]): Promise<void> {
    return this.#run(() => {
      if (this.appendOnly) throw appendOnlyError("delete blobs");
      const keys = ids.map(blobKey);
      for (const key of keys) this.#blobs.delete(key);
    });
  }

  /** Runs `action` on an open store, turning a synchronous throw into a rejection. */
  // eslint-disable-next-line @typescript-eslint/require-await -- async only to reject, not throw
  async #run<T>(action: () => T): Promise<T> {
    if (this.#closed) throw new TypeError("The store is closed");
    return action();
  }
}

/** The lock records of a memory store: a Map keeps insertion order, as the rules want. */
function mapLockTable(locks: Map<string, LockRecord>): LockTable {
  return {
    live: (now, exclusiveOnly) =>
      [...locks.values()].filter(
        (lock) => lock.expiresAt > now && (lock.exclusive || !exclusiveOnly),
      ),
    insert: (record) => {
      locks.set(record.id, record);
    },
    extend: (id, expiresAt, now) => {
      const lock = locks.get(id);
      if (lock === undefined || lock.expiresAt <= now) return false;
      locks.set(id, { ...lock, expiresAt });
      return true;
    },
    remove: (id) => {
      locks.delete(id);
    },
    removeExpired: (now) => {
      let removed = 0;
      for (const [id, lock] of locks) {
        if (lock.expiresAt > now) continue;
        locks.delete(id);
        removed += 1;
      }
      return removed;
    },
  };
}

function blobKey(id: BlobId): string {
  checkId(id);
  return toHex(id);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
