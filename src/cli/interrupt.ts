/**
 * Ctrl-C (SIGINT) and SIGTERM while a command works. Left to Node's default, the process died
 * on the spot: the user learnt nothing, and the repository lease it held ran on for a minute,
 * during which a prune waited (or exited 11). Now the first signal:
 *
 * 1. stops every store this process opened from doing anything more: each call made from now
 *    on waits for ever, so no snapshot, deletion or key slot is written after the user asked
 *    to stop, and the command's own work stalls quietly instead of failing loudly;
 * 2. says what happened (the command may say it in its own words: a backup says its snapshot
 *    was not written and that what it uploaded is reused next time);
 * 3. runs the command's clean-ups (a backup's client cache lock), releases the repository
 *    locks taken through those stores and closes them, each within a bound;
 * 4. exits 130 (SIGINT) or 143 (SIGTERM), as a shell reports a process killed by the signal.
 *
 * A second signal exits at once. Over ssh a terminal's Ctrl-C also reaches ssh, which dies
 * before the release can be sent: then `serve` releases the connection's leases itself
 * (store/held-locks.ts).
 */
import {
  keepLocks,
  type BlobToPut,
  type LockKeeper,
  type PutOptions,
  type Store,
} from "../store/index.js";

export type InterruptSignal = "SIGINT" | "SIGTERM";

/** What the command did when it stopped, for its own wording of the message. */
export interface InterruptedWork {
  readonly signal: InterruptSignal;
  /** A snapshot record was handed to a store before the signal came (it may be saved). */
  readonly snapshotSent: boolean;
  /** The command held a repository lock, which is being released. */
  readonly lockHeld: boolean;
}

/** How long releasing the locks, then closing the stores, may take before exiting anyway. */
const RELEASE_MS = 3000;
const CLOSE_MS = 2000;

export function exitCodeOfSignal(signal: InterruptSignal): number {
  return signal === "SIGINT" ? 130 : 143;
}

function within(ms: number, work: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void work.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const forever = new Promise<never>(() => undefined);

/** What a stopped store answers: nothing, ever (see the module comment). */
function stalled(property: PropertyKey): unknown {
  if (property === "list")
    return () => ({
      [Symbol.asyncIterator]: () => ({ next: () => forever }),
    });
  return () => forever;
}

function defaultMessage(work: InterruptedWork): string {
  return work.lockHeld
    ? `Interrupted by ${work.signal}: stopped before finishing, and the repository lock is released (run the command again to finish)`
    : `Interrupted by ${work.signal}`;
}

export class Interrupts {
  readonly #stores = new Set<{ keeper: LockKeeper; closed: boolean }>();
  readonly #cleanups = new Set<() => void>();
  #describe: (work: InterruptedWork) => string = defaultMessage;
  #snapshotSent = false;
  #signal: InterruptSignal | undefined;
  #finished: Promise<number> | undefined;

  /** The exit code once the clean-up after a signal is done; undefined without a signal. */
  get finished(): Promise<number> | undefined {
    return this.#finished;
  }

  /** The signal that stopped this process, if one did. */
  get signal(): InterruptSignal | undefined {
    return this.#signal;
  }

  /**
   * Wraps a store this process opened: its locks are released and it is closed when a signal
   * comes, and from then on it answers nothing.
   */
  guard(store: Store): Store {
    const keeper = keepLocks(store);
    const entry = { keeper, closed: false };
    this.#stores.add(entry);
    const kept = keeper.store;
    return new Proxy(kept, {
      get: (target, property): unknown => {
        const stopped = this.#signal !== undefined;
        if (property === "close") {
          return async () => {
            this.#stores.delete(entry);
            if (entry.closed) return;
            entry.closed = true;
            await target.close();
          };
        }
        if (property === "releaseLock" || property === "appendOnly")
          return Reflect.get(target, property, target);
        if (stopped && property !== "authenticate") return stalled(property);
        if (property === "put")
          return (blobs: readonly BlobToPut[], options?: PutOptions) => {
            if (blobs.some((blob) => blob.kind === "snapshot"))
              this.#snapshotSent = true;
            return target.put(blobs, options);
          };
        return Reflect.get(target, property, target);
      },
    });
  }

  /** Runs `cleanup` (synchronous, quick) when a signal comes; the returned function forgets it. */
  onInterrupt(cleanup: () => void): () => void {
    this.#cleanups.add(cleanup);
    return () => this.#cleanups.delete(cleanup);
  }

  /**
   * The command's own words for an interruption (a backup's, say), until the returned
   * function puts the general ones back.
   */
  describeWith(describe: (work: InterruptedWork) => string): () => void {
    this.#describe = describe;
    return () => {
      if (this.#describe === describe) this.#describe = defaultMessage;
    };
  }

  /**
   * Stops the process's work as the module comment says and answers the exit code. Called once
   * per process by the signal handler (and by tests); a second call answers the first's result.
   */
  interrupt(
    signal: InterruptSignal,
    say: (line: string) => void,
  ): Promise<number> {
    if (this.#finished !== undefined) return this.#finished;
    this.#signal = signal;
    this.#finished = this.#stop(signal, say);
    return this.#finished;
  }

  async #stop(
    signal: InterruptSignal,
    say: (line: string) => void,
  ): Promise<number> {
    const stores = [...this.#stores];
    const lockHeld = stores.some(({ keeper }) => keeper.held().length > 0);
    say(this.#describe({ signal, snapshotSent: this.#snapshotSent, lockHeld }));
    for (const cleanup of this.#cleanups) {
      try {
        cleanup();
      } catch {
        // Best effort: the process ends next, which releases what this could not.
      }
    }
    await within(
      RELEASE_MS,
      Promise.allSettled(stores.map(({ keeper }) => keeper.releaseHeld())),
    );
    await within(
      CLOSE_MS,
      Promise.allSettled(
        stores.map(async (entry) => {
          if (entry.closed) return;
          entry.closed = true;
          await entry.keeper.store.close();
        }),
      ),
    );
    return exitCodeOfSignal(signal);
  }
}

/** The process's one instance: commands register with it, main.ts hands it the signals. */
export const interrupts = new Interrupts();

/**
 * Installs the handlers for the life of the process: the first signal stops the work and
 * exits with its code once the clean-up is done, a second one exits at once.
 */
export function watchInterrupts(
  exit: (code: number) => void,
  say: (line: string) => void,
): void {
  const on = (signal: InterruptSignal): void => {
    if (interrupts.signal !== undefined) {
      exit(exitCodeOfSignal(interrupts.signal));
      return;
    }
    // Work still running in the background may fail now that its store stalls or is closed;
    // that must neither print a stack trace nor replace the signal's exit code.
    process.on("unhandledRejection", () => undefined);
    void interrupts.interrupt(signal, say).then(exit);
  };
  process.on("SIGINT", () => {
    on("SIGINT");
  });
  process.on("SIGTERM", () => {
    on("SIGTERM");
  });
}
