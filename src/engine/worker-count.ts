/**
 * How many worker threads the engine's pools start: the backup's sealing workers
 * (backup/seal-pool.ts) and restore's file writers (file-writer-pool.ts).
 */
import { availableParallelism } from "node:os";

const MAX_WORKERS = 8;

/**
 * Workers to use: $BLINDSYNC_WORKERS if set (0 disables the pools), else one per core besides
 * the main thread, which is busy itself (reading, chunking and hashing in a backup; fetching,
 * walking and writing small files in a restore). On the 2-core benchmark machine 1 sealing
 * worker beat 2 (initial backup 10.8–11.3 s against 11.7–12.5 s, 340 against 380–400 MiB peak
 * RSS): a second worker only competed with the main thread, ssh and the server.
 */
export function workerCount(env: NodeJS.ProcessEnv = process.env): number {
  const configured = env.BLINDSYNC_WORKERS;
  if (configured !== undefined && /^\d+$/.test(configured))
    return Math.min(Number(configured), MAX_WORKERS);
  return Math.min(availableParallelism() - 1, MAX_WORKERS);
}
