/**
 * A Store that remembers the locks taken through it, so that whoever ends a connection or a
 * process early can release them at once. A lease left behind runs on until it expires (a
 * minute by default), and a prune waits for it all that time although its holder is gone.
 * `serve` keeps the locks of each connection this way and releases them when the connection
 * ends, however it ends (ssh killed by the user's Ctrl-C, a cut network); the client keeps its
 * own so that an interrupted command releases its lease before it exits (cli/interrupt.ts).
 *
 * A wrapper rather than a change in every store: it sits at the seam, so memory, SQLite,
 * remote and pack stores all get it, and a method the Store interface gains passes through.
 */
import type { LockAttempt, LockRequest, Store } from "./store.js";

export interface LockKeeper {
  /** The store to use: the wrapped one, with acquireLock and releaseLock watched. */
  readonly store: Store;
  /** The ids of the locks taken through `store` and not released since. */
  held(): string[];
  /**
   * Releases every lock still held. Never throws: a lock that cannot be released (the
   * connection is gone) stays listed, and its lease runs out by itself.
   */
  releaseHeld(): Promise<void>;
}

export function keepLocks(store: Store): LockKeeper {
  const held = new Set<string>();
  const acquireLock = async (request: LockRequest): Promise<LockAttempt> => {
    const attempt = await store.acquireLock(request);
    if (attempt.acquired) held.add(attempt.id);
    return attempt;
  };
  const releaseLock = async (id: string): Promise<void> => {
    await store.releaseLock(id);
    held.delete(id);
  };
  const wrapped = new Proxy(store, {
    get(target, property): unknown {
      if (property === "acquireLock") return acquireLock;
      if (property === "releaseLock") return releaseLock;
      // With the store itself as `this`: stores keep private fields (#pipeline), which a
      // proxy as receiver cannot reach.
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function"
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
  });
  return {
    store: wrapped,
    held: () => [...held],
    async releaseHeld() {
      await Promise.allSettled([...held].map((id) => releaseLock(id)));
    },
  };
}
