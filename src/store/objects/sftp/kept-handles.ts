/**
 * Read handles of objects that never change (packs, named by their SHA-256), kept open between
 * ranged gets. A get of a range alone costs an OPEN, the READs beside an FSTAT, and a CLOSE:
 * two round trips and four or more requests through ssh, sshd and sftp-server. A restore reads
 * a pack's blobs in many gets (a large file's chunks lie one after another in its packs), so
 * with the handle and the size kept, each later get is its READs alone: one round trip.
 *
 * Only for objects the caller says never change (ObjectStore.get's `unchanging`): a kept handle
 * reads the file it opened, so an object replaced under its name would be read as it was. A
 * pack deleted meanwhile (another client's prune) is still read through its handle, with the
 * same bytes, which the layers above authenticate as always.
 *
 * A handle is closed once it is evicted (the least recently used beyond KEPT_HANDLES) and no get
 * is still reading through it; a failed get drops its handle, so the next get opens afresh.
 */

/** Handles kept at most; OpenSSH's sftp-server holds one file descriptor for each. */
export const KEPT_HANDLES = 32;

/** An object opened for reading: its handle, and its size as the server reports it. */
export interface OpenedObject {
  readonly handle: Uint8Array;
  /** Rejects when the object is not a regular file, or the server gives no size. */
  readonly size: Promise<number>;
}

interface Kept {
  readonly opening: Promise<OpenedObject>;
  /** Gets reading through it now. */
  users: number;
  /** Evicted or failed: closed once its last user is done. */
  dropped: boolean;
}

export class KeptHandles {
  /** By key (the object's path); insertion order is the order of last use. */
  readonly #kept = new Map<string, Kept>();
  readonly #limit: number;
  readonly #close: (opened: OpenedObject, key: string) => void;

  /**
   * `close` sends the CLOSE of an evicted handle; it is not waited for (nothing reads through
   * the handle after it, and a failed close of a read-only file loses nothing).
   */
  constructor(
    close: (opened: OpenedObject, key: string) => void,
    limit = KEPT_HANDLES,
  ) {
    this.#close = close;
    this.#limit = limit;
  }

  /** Handles kept now (for tests). */
  get size(): number {
    return this.#kept.size;
  }

  /**
   * Runs `use` on the object's kept handle, opening it with `open` first when none is kept.
   * A failure (of the open, the size or `use`) drops the handle and is rethrown.
   */
  async with<T>(
    key: string,
    open: () => Promise<OpenedObject>,
    use: (opened: OpenedObject) => Promise<T>,
  ): Promise<T> {
    let kept = this.#kept.get(key);
    if (kept === undefined) {
      kept = { opening: open(), users: 0, dropped: false };
      this.#kept.set(key, kept);
      this.#evictBeyondLimit();
    } else {
      // Used again: last in the order of eviction.
      this.#kept.delete(key);
      this.#kept.set(key, kept);
    }
    kept.users++;
    try {
      return await use(await kept.opening);
    } catch (error) {
      this.#drop(key, kept);
      throw error;
    } finally {
      kept.users--;
      if (kept.dropped && kept.users === 0) this.#closeKept(key, kept);
    }
  }

  /** Forgets every handle without closing it: the session they belong to is ending. */
  clear(): void {
    for (const kept of this.#kept.values()) kept.dropped = true;
    this.#kept.clear();
  }

  #evictBeyondLimit(): void {
    for (const [key, kept] of this.#kept) {
      if (this.#kept.size <= this.#limit) return;
      this.#drop(key, kept);
      if (kept.users === 0) this.#closeKept(key, kept);
    }
  }

  #drop(key: string, kept: Kept): void {
    if (this.#kept.get(key) === kept) this.#kept.delete(key);
    kept.dropped = true;
  }

  #closeKept(key: string, kept: Kept): void {
    kept.opening.then(
      (opened) => {
        this.#close(opened, key);
      },
      () => undefined, // never opened: nothing to close
    );
  }
}
