/**
 * Repository locks as the engine uses them: backups hold a shared lease, prune an exclusive
 * one, so a prune can never delete a blob that a running backup is about to reference. Leases
 * are refreshed in the background and expire by themselves when a process dies, so a crash
 * never leaves a repository locked for good. blindsync never waits silently: a conflict either
 * fails at once with who holds the lock (exit 11) or reports each wait through the sink.
 */
import { BlindsyncError } from "../errors.js";
import { MAX_LEASE_MS, type LockHolder, type Store } from "../store/index.js";

/** Long enough to survive a slow connection, short enough that a dead holder is soon gone. */
export const DEFAULT_LEASE_MS = 60_000;

/**
 * What to say when a lock is in the way. Honest about what the store promises: any lease runs
 * out at most MAX_LEASE_MS after its holder last refreshed it, and a holder that is alive (or
 * hostile) may refresh forever, hence the escape.
 */
export const LOCKED_HINT = `Wait for that command to finish. A lock runs out at the time shown unless its holder refreshes it (by at most ${MAX_LEASE_MS / 60_000} minutes at a time), so the lock of a process that died is soon gone; if no command that uses the repository is running, remove the locks with: blindsync unlock --remove-all REPO`;
const POLL_MS = 1000;

export interface LockOptions {
  readonly exclusive: boolean;
  /** What the store is told about the holder, e.g. "backup, pid 4242". */
  readonly owner: string;
  readonly leaseMs?: number;
  /** How long to wait for a conflicting lock to go; 0 fails at once. */
  readonly waitMs?: number;
  /** Called on every poll while waiting, so the user sees why nothing happens. */
  readonly onWait?: (holders: readonly LockHolder[]) => void;
}

export interface HeldLock {
  /**
   * Renews the lease now and throws 'locked' if it was lost. Call right before a step that
   * relies on the lock (a backup calls it just before writing its snapshot).
   */
  confirm(): Promise<void>;
}

export function describeHolders(
  holders: readonly LockHolder[],
  more = 0,
): string {
  const described = holders.map((holder) => {
    const until = new Date(holder.expiresAt)
      .toISOString()
      .replace(/\.\d+Z$/, "Z");
    return `${holder.exclusive ? "an exclusive" : "a shared"} lock held by "${holder.owner}" (lease until ${until})`;
  });
  if (more > 0) described.push(`${more} more`);
  return described.join("; ");
}

/** Takes the lock; answers its id and the lease the store granted (it may cap the request). */
async function acquire(
  store: Store,
  options: LockOptions,
  leaseMs: number,
): Promise<{ id: string; leaseMs: number }> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (;;) {
    const attempt = await store.acquireLock({
      exclusive: options.exclusive,
      owner: options.owner,
      leaseMs,
    });
    if (attempt.acquired) return { id: attempt.id, leaseMs: attempt.leaseMs };
    if (Date.now() >= deadline) {
      throw new BlindsyncError(
        "locked",
        `The repository is locked: ${describeHolders(attempt.holders, attempt.more)}`,
        { hint: LOCKED_HINT },
      );
    }
    options.onWait?.(attempt.holders);
    await new Promise((resolve) =>
      setTimeout(
        resolve,
        Math.min(POLL_MS, Math.max(0, deadline - Date.now())),
      ),
    );
  }
}

/** Runs `work` while holding a lock, renewing the lease, and releases it whatever happens. */
export async function withLock<T>(
  store: Store,
  options: LockOptions,
  work: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const { id, leaseMs } = await acquire(
    store,
    options,
    options.leaseMs ?? DEFAULT_LEASE_MS,
  );
  let lost: Error | undefined;
  const refresh = (): Promise<void> =>
    store.refreshLock(id, leaseMs).catch((error: unknown) => {
      lost = error instanceof Error ? error : new Error(String(error));
    });
  const timer = setInterval(
    () => void refresh(),
    Math.max(1000, Math.floor(leaseMs / 3)),
  );
  timer.unref();
  try {
    return await work({
      async confirm() {
        if (lost !== undefined) throw lost;
        await store.refreshLock(id, leaseMs);
      },
    });
  } finally {
    clearInterval(timer);
    await store.releaseLock(id).catch(() => undefined);
  }
}
