/**
 * The pool of files in flight: at most `concurrency` jobs at once, and together they hold at
 * most `budget` bytes of fetched blobs (each job states its weight up front). A job heavier than
 * the whole budget still runs, alone, so no file is ever refused for its size.
 */
import { describeError } from "../../errors.js";

/**
 * Budget for the blobs all files in flight may hold at once (a file counts min(size, 3 blobs)).
 * 64 MiB put the full-corpus restore's peak RSS above restic's (docs/performance.md).
 */
export const BYTES_IN_FLIGHT = 32 * 1024 * 1024;

export class FilePool {
  private readonly running = new Set<Promise<void>>();
  private weightInFlight = 0;
  /**
   * Resolved (and dropped) whenever a job finishes, so a waiting schedule() looks again. One
   * shared promise instead of Promise.race over the running jobs: a race per file attached a
   * reaction to every running job, and a long one (a large file) collected one from every
   * small file scheduled beside it, memory growing with the tree.
   */
  private jobFinished: Promise<void> | undefined;
  private wakeWaiters: (() => void) | undefined;

  /** `fail`: hears a job that threw, which the pool must neither lose nor leak as a rejection. */
  constructor(
    private readonly concurrency: number,
    private readonly fail: (message: string) => void,
    private readonly budget: number = BYTES_IN_FLIGHT,
  ) {}

  /** Starts `job` once there is room for it; resolves when it has started, not finished. */
  async schedule(weight: number, job: () => Promise<void>): Promise<void> {
    while (
      this.running.size > 0 &&
      (this.running.size >= this.concurrency ||
        this.weightInFlight + weight > this.budget)
    ) {
      await this.nextFinish();
    }
    this.weightInFlight += weight;
    const task: Promise<void> = this.guard(job).then(() => {
      this.weightInFlight -= weight;
      this.running.delete(task);
      const wake = this.wakeWaiters;
      this.jobFinished = undefined;
      this.wakeWaiters = undefined;
      wake?.();
    });
    this.running.add(task);
  }

  private nextFinish(): Promise<void> {
    this.jobFinished ??= new Promise<void>((resolve) => {
      this.wakeWaiters = resolve;
    });
    return this.jobFinished;
  }

  /** Resolves once every job, including any a running job scheduled, has finished. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  private async guard(job: () => Promise<void>): Promise<void> {
    try {
      await job();
    } catch (error) {
      this.fail(`Restore failed unexpectedly: ${describeError(error)}`);
    }
  }
}
