import { describe, expect, it } from "vitest";
import { FilePool } from "./scheduler.js";

/** Lets every pending promise callback run. */
const settle = (): Promise<void> =>
  new Promise((resolve) => setImmediate(resolve));

/** Jobs that run until released by name, recording what ran and the weight in flight. */
class Jobs {
  readonly started: string[] = [];
  readonly finished: string[] = [];
  weight = 0;
  maxWeight = 0;
  private readonly waiting = new Map<string, () => void>();

  job(name: string, weight: number): () => Promise<void> {
    return async () => {
      this.started.push(name);
      this.weight += weight;
      this.maxWeight = Math.max(this.maxWeight, this.weight);
      await new Promise<void>((resolve) => this.waiting.set(name, resolve));
      this.weight -= weight;
      this.finished.push(name);
    };
  }

  get running(): string[] {
    return this.started.filter((name) => !this.finished.includes(name));
  }

  async release(name: string): Promise<void> {
    const resolve = this.waiting.get(name);
    if (resolve === undefined) throw new Error(`${name} is not running`);
    this.waiting.delete(name);
    resolve();
    await settle();
  }
}

const noFailure = (message: string): void => {
  throw new Error(`unexpected failure: ${message}`);
};

/** Schedules the jobs in order, as the walk does, each waiting for room. */
function scheduleAll(
  pool: FilePool,
  jobs: Jobs,
  weights: readonly number[],
): Promise<void> {
  return (async () => {
    for (const [index, weight] of weights.entries())
      await pool.schedule(weight, jobs.job(`j${index}`, weight));
  })();
}

describe("FilePool", () => {
  it("runs at most `concurrency` jobs at once, starting the next as one finishes", async () => {
    const pool = new FilePool(3, noFailure, 1000);
    const jobs = new Jobs();
    const scheduling = scheduleAll(pool, jobs, [1, 1, 1, 1, 1]);
    await settle();
    expect(jobs.running).toEqual(["j0", "j1", "j2"]);
    await jobs.release("j1");
    expect(jobs.running).toEqual(["j0", "j2", "j3"]);
    await jobs.release("j0");
    expect(jobs.running).toEqual(["j2", "j3", "j4"]);
    await scheduling;
    for (const name of ["j2", "j3", "j4"]) await jobs.release(name);
    await pool.drain();
    expect(jobs.finished).toHaveLength(5);
  });

  it("keeps the weights in flight within the budget, and runs a job heavier than the budget alone", async () => {
    const pool = new FilePool(10, noFailure, 100);
    const jobs = new Jobs();
    const scheduling = scheduleAll(pool, jobs, [40, 40, 40, 250, 10]);
    await settle();
    // A third 40 would pass 100: it waits, and so does everything after it.
    expect(jobs.running).toEqual(["j0", "j1"]);
    await jobs.release("j0");
    expect(jobs.running).toEqual(["j1", "j2"]);
    await jobs.release("j1");
    expect(jobs.running).toEqual(["j2"]);
    await jobs.release("j2");
    expect(jobs.running).toEqual(["j3"]);
    await jobs.release("j3");
    expect(jobs.running).toEqual(["j4"]);
    await scheduling;
    await jobs.release("j4");
    await pool.drain();
    expect(jobs.maxWeight).toBe(250);
  });

  it("reports a job that throws through `fail` and goes on; drain() does not reject", async () => {
    const failures: string[] = [];
    const pool = new FilePool(2, (message) => failures.push(message), 100);
    let ran = 0;
    await pool.schedule(1, () => Promise.reject(new Error("disk on fire")));
    await pool.schedule(1, () => {
      ran++;
      return Promise.resolve();
    });
    await pool.drain();
    expect(ran).toBe(1);
    expect(failures).toEqual(["Restore failed unexpectedly: disk on fire"]);
  });

  it("drain() also waits for jobs that running jobs schedule", async () => {
    const pool = new FilePool(4, noFailure, 100);
    const order: string[] = [];
    await pool.schedule(0, async () => {
      await settle();
      await pool.schedule(0, async () => {
        await settle();
        order.push("inner");
      });
      order.push("outer");
    });
    await pool.drain();
    expect(order).toEqual(["outer", "inner"]);
  });
});
