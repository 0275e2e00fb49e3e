/**
 * A Store held to rate limits, for a local SQLite repository (a USB disk, a network mount):
 * there is no byte stream below it, so the blob bytes themselves wait, put before it is written
 * and get once it is read. Remote and pack repositories are limited lower down, where their
 * bytes cross the link (throttled-stream.ts, limited-object-store.ts), so that frames, indexes
 * and pack trailers count too.
 */
import type {
  BlobId,
  BlobInfo,
  BlobKind,
  BlobToPut,
  KeySlot,
  LockAttempt,
  LockRequest,
  LocksRemoved,
  PutOptions,
  Store,
} from "../store.js";
import type { Limiters } from "./rate-limiter.js";

export class LimitedStore implements Store {
  readonly #inner: Store;
  readonly #limiters: Limiters;

  constructor(inner: Store, limiters: Limiters) {
    this.#inner = inner;
    this.#limiters = limiters;
  }

  get appendOnly(): boolean {
    return this.#inner.appendOnly;
  }

  async put(blobs: readonly BlobToPut[], options?: PutOptions): Promise<void> {
    let bytes = 0;
    for (const blob of blobs) bytes += blob.bytes.length;
    await this.#limiters.upload?.take(bytes);
    await this.#inner.put(blobs, options);
  }

  /** Passes the sync point on: the buffered puts above went to the inner store. */
  async flush(): Promise<void> {
    await this.#inner.flush?.();
  }

  expect(ids: readonly BlobId[]): void {
    this.#inner.expect?.(ids);
  }

  async get(id: BlobId): Promise<Uint8Array> {
    const bytes = await this.#inner.get(id);
    await this.#limiters.download?.take(bytes.length);
    return bytes;
  }

  readConfig(): Promise<Uint8Array> {
    return this.#inner.readConfig();
  }
  create(config: Uint8Array, firstKeySlot: KeySlot): Promise<void> {
    return this.#inner.create(config, firstKeySlot);
  }
  missing(ids: readonly BlobId[]): Promise<BlobId[]> {
    return this.#inner.missing(ids);
  }
  list(kind?: BlobKind): AsyncIterable<BlobInfo> {
    return this.#inner.list(kind);
  }
  delete(ids: readonly BlobId[]): Promise<void> {
    return this.#inner.delete(ids);
  }
  compact(): Promise<void> {
    return this.#inner.compact();
  }
  listKeySlots(): Promise<KeySlot[]> {
    return this.#inner.listKeySlots();
  }
  addKeySlot(slot: KeySlot): Promise<void> {
    return this.#inner.addKeySlot(slot);
  }
  removeKeySlot(name: string): Promise<void> {
    return this.#inner.removeKeySlot(name);
  }
  acquireLock(request: LockRequest): Promise<LockAttempt> {
    return this.#inner.acquireLock(request);
  }
  refreshLock(id: string, leaseMs: number): Promise<void> {
    return this.#inner.refreshLock(id, leaseMs);
  }
  releaseLock(id: string): Promise<void> {
    return this.#inner.releaseLock(id);
  }
  removeLocks(all: boolean): Promise<LocksRemoved> {
    return this.#inner.removeLocks(all);
  }
  generation(): Promise<number> {
    return this.#inner.generation();
  }
  bumpGeneration(): Promise<number> {
    return this.#inner.bumpGeneration();
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}
