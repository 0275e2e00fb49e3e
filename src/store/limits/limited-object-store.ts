/**
 * An ObjectStore held to rate limits: the bytes of each put wait for the upload limit before
 * they are sent, the bytes of each get for the download limit once they have come. Every pack
 * repository (a directory, sftp, S3) goes through it when a limit is set, so the pack store
 * above knows nothing of it (a `Store -> Store` style wrapper, one level down).
 */
import type {
  ByteRange,
  GetOptions,
  ObjectInfo,
  ObjectStore,
} from "../objects/object-store.js";
import type { Limiters } from "./rate-limiter.js";

export class LimitedObjectStore implements ObjectStore {
  readonly #inner: ObjectStore;
  readonly #limiters: Limiters;

  constructor(inner: ObjectStore, limiters: Limiters) {
    this.#inner = inner;
    this.#limiters = limiters;
  }

  get where(): string {
    return this.#inner.where;
  }

  async put(name: string, bytes: Uint8Array): Promise<void> {
    await this.#limiters.upload?.take(bytes.length);
    await this.#inner.put(name, bytes);
  }

  async get(
    name: string,
    range?: ByteRange,
    options?: GetOptions,
  ): Promise<Uint8Array> {
    const bytes = await this.#inner.get(name, range, options);
    await this.#limiters.download?.take(bytes.length);
    return bytes;
  }

  stat(name: string): Promise<ObjectInfo | undefined> {
    return this.#inner.stat(name);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.#inner.list(prefix);
  }

  delete(name: string): Promise<void> {
    return this.#inner.delete(name);
  }

  sweepTemporaries(olderThanMs: number): Promise<number> {
    return this.#inner.sweepTemporaries?.(olderThanMs) ?? Promise.resolve(0);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
