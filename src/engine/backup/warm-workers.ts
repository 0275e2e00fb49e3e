/**
 * Starting the sealing worker threads (seal-worker.ts): how many, where the script is, and
 * starting them ahead of the repository's keys (WarmWorkers). The pool that uses them is
 * seal-pool.ts.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { WorkerParams } from "./seal-worker.js";

// Beside this module both in tsc's output and in the bundle (scripts/bundle.js).
const WORKER_SCRIPT = new URL("./seal-worker.js", import.meta.url);
const MAX_WORKERS = 8;
/**
 * Each worker is an isolate with a heap of its own. Its live data is small (one batch's
 * messages; plaintext and sealed bytes live outside the heap, in transferred buffers), but by
 * default V8 lets its young generation grow to 48 MiB of semi-spaces, all of it resident after
 * a backup of many small files (docs/performance.md, "Memory with many files"). This bounds it,
 * whatever the size of the tree or the repository; the old generation keeps V8's default limit,
 * so a worker never fails for want of heap.
 */
export const WORKER_YOUNG_GENERATION_MB = 4;

/**
 * Workers to use: $BLINDSYNC_WORKERS if set (0 disables the pool), else one per core besides
 * the main thread, which is busy itself reading, chunking and hashing. On the 2-core benchmark
 * machine 1 worker beat 2 (initial backup 10.8–11.3 s against 11.7–12.5 s, 340 against 380–400
 * MiB peak RSS): a second worker only competed with the main thread, ssh and the server.
 */
export function workerCount(env: NodeJS.ProcessEnv = process.env): number {
  const configured = env.BLINDSYNC_WORKERS;
  if (configured !== undefined && /^\d+$/.test(configured))
    return Math.min(Number(configured), MAX_WORKERS);
  return Math.min(availableParallelism() - 1, MAX_WORKERS);
}

/** Whether the compiled worker script exists (unit tests run the TypeScript sources). */
export function sealWorkersAvailable(): boolean {
  return existsSync(fileURLToPath(WORKER_SCRIPT));
}

/** A sealing worker, with its parameters or (WarmWorkers) without. */
export function spawnSealWorker(workerData?: WorkerParams): Worker {
  return new Worker(WORKER_SCRIPT, {
    ...(workerData === undefined ? {} : { workerData }),
    resourceLimits: {
      maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB,
    },
  });
}

/**
 * Sealing workers started before the repository is unlocked, so that their start-up (a thread
 * and its modules: 0.2-0.3 s of CPU, more on a busy machine) runs on the other core while the
 * main thread waits for the passphrase's KDF, instead of after it, when the backup's first job
 * would wait for them (docs/performance.md, "Successive releases of an npm package"). They
 * hold no key: the pool that takes them sends the repository's parameters as their first
 * message. Whoever started them closes them; once a pool has taken them, closing is a no-op
 * and the pool ends them with its own.
 */
export class WarmWorkers {
  #workers: Worker[] | undefined;

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  /** Starts `count` workers, or none (undefined) where the pool would not run any. */
  static start(count = workerCount()): WarmWorkers | undefined {
    if (count <= 0 || !sealWorkersAvailable()) return undefined;
    const workers: Worker[] = [];
    for (let index = 0; index < count; index++) workers.push(spawnSealWorker());
    const warm = new WarmWorkers(workers);
    // A worker that fails before any pool listens must not crash the process, nor be handed
    // to a pool that would wait on it for ever: the pool starts a fresh one in its place.
    for (const worker of workers) {
      worker.on("error", () => undefined);
      worker.on("exit", () => warm.#exited.add(worker));
    }
    return warm;
  }

  readonly #exited = new Set<Worker>();

  /** The live workers, once: the pool that starts its workers takes them. */
  take(): Worker[] {
    const workers = this.#workers ?? [];
    this.#workers = undefined;
    return workers.filter((worker) => !this.#exited.has(worker));
  }

  /** Ends the workers no pool took. */
  async close(): Promise<void> {
    await Promise.all(this.take().map((worker) => worker.terminate()));
  }
}
