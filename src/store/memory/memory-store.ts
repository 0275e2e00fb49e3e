/**
 * A Store that keeps everything in memory: used by tests of the layers above, and the smallest
 * example of a store: records in Maps behind the tables of store/rules, which hold every rule.
 * Bytes are copied in and out, so no caller can alias (and silently change) what the store
 * holds. Each call runs to completion before the next, which is all the transaction a Map needs.
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
  acquireLockIn,
  addKeySlotIn,
  blobNotFoundError,
  bumpGenerationIn,
  checkId,
  createIn,
  deleteIn,
  generationIn,
  listKeySlotsIn,
  missingIn,
  putIn,
  refreshLockIn,
  refuseIfAppendOnly,
  releaseLockIn,
  removeKeySlotIn,
  removeLocksIn,
  type BlobTable,
  type Cell,
  type KeySlotTable,
  type LockRecord,
  type LockTable,
} from "../rules/index.js";

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
  readonly #config = cell<Uint8Array>();
  readonly #generation = cell<number>();
  readonly #keySlots = new Map<string, Uint8Array>();
  readonly #keySlotTable: KeySlotTable = mapKeySlotTable(this.#keySlots);
  /** Keyed by the hex of the id, since Uint8Array keys compare by identity. */
  readonly #blobs = new Map<string, StoredBlob>();
  readonly #blobTable: BlobTable = mapBlobTable(this.#blobs);
  readonly #locks = new Map<string, LockRecord>();
  readonly #lockTable: LockTable = mapLockTable(this.#locks);
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.appendOnly = options.appendOnly ?? false;
  }

  readConfig(): Promise<Uint8Array> {
    return this.#run(() => {
      const config = this.#config.read();
      if (config === undefined) {
        throw new BlindsyncError(
          "no-repository",
          "No repository in this memory store",
        );
      }
      return config.slice();
    });
  }

  create(config: Uint8Array, firstKeySlot: KeySlot): Promise<void> {
    return this.#run(() => {
      createIn(
        this.#config,
        this.#keySlotTable,
        config.slice(),
        firstKeySlot,
        "in this memory store",
      );
    });
  }

  listKeySlots(): Promise<KeySlot[]> {
    return this.#run(() => listKeySlotsIn(this.#keySlotTable));
  }

  addKeySlot(slot: KeySlot): Promise<void> {
    return this.#run(() => {
      addKeySlotIn(this.#keySlotTable, slot);
    });
  }

  removeKeySlot(name: string): Promise<void> {
    return this.#run(() => {
      removeKeySlotIn(this.#keySlotTable, name, this.appendOnly);
    });
  }

  missing(ids: readonly BlobId[]): Promise<BlobId[]> {
    return this.#run(() => missingIn(this.#blobTable, ids));
  }

  get(id: BlobId): Promise<Uint8Array> {
    return this.#run(() => {
      checkId(id);
      const blob = this.#blobs.get(toHex(id));
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

  put(blobs: readonly BlobToPut[]): Promise<void> {
    return this.#run(() => {
      putIn(this.#blobTable, blobs);
    });
  }

  delete(ids: readonly BlobId[]): Promise<void> {
    return this.#run(() => {
      deleteIn(this.#blobTable, ids, this.appendOnly);
    });
  }

  compact(): Promise<void> {
    return this.#run(() => {
      // Nothing to give back; the refusal is the rule every store keeps.
      refuseIfAppendOnly(this.appendOnly, "compact");
    });
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
      releaseLockIn(this.#lockTable, id);
    });
  }

  removeLocks(all: boolean): Promise<LocksRemoved> {
    return this.#run(() =>
      removeLocksIn(this.#lockTable, all, this.appendOnly, Date.now()),
    );
  }

  generation(): Promise<number> {
    return this.#run(() => generationIn(this.#generation));
  }

  bumpGeneration(): Promise<number> {
    return this.#run(() => bumpGenerationIn(this.#generation, this.appendOnly));
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Runs `action` on an open store, turning a synchronous throw into a rejection. */
  // eslint-disable-next-line @typescript-eslint/require-await -- async only to reject, not throw
  async #run<T>(action: () => T): Promise<T> {
    if (this.#closed) throw new TypeError("The store is closed");
    return action();
  }
}

function cell<T>(): Cell<T> {
  let value: T | undefined;
  return {
    read: () => value,
    write: (next) => {
      value = next;
    },
  };
}

function mapBlobTable(blobs: Map<string, StoredBlob>): BlobTable {
  return {
    has: (id) => blobs.has(toHex(id)),
    insert: (blob) => {
      blobs.set(toHex(blob.id), {
        id: blob.id.slice(),
        kind: blob.kind,
        bytes: blob.bytes.slice(),
      });
    },
    remove: (id) => {
      blobs.delete(toHex(id));
    },
  };
}

function mapKeySlotTable(slots: Map<string, Uint8Array>): KeySlotTable {
  return {
    all: () =>
      [...slots.entries()].map(([name, bytes]) => ({
        name,
        bytes: bytes.slice(),
      })),
    has: (name) => slots.has(name),
    count: () => slots.size,
    insert: (slot) => {
      slots.set(slot.name, slot.bytes.slice());
    },
    remove: (name) => {
      slots.delete(name);
    },
  };
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
