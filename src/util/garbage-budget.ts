/**
 * Frees the memory of dropped buffers by a byte budget instead of whenever V8 gets to it.
 *
 * A Buffer's bytes live outside V8's heap (malloc), and are freed only when a collection finds
 * its small JavaScript object dead. A large file's backup makes few JavaScript objects and many
 * megabytes of buffers (chunks, compressed and encrypted copies, sealed blobs), so collections
 * are rare and V8 lets about 64 MiB of dead buffers pile up per thread before external memory
 * pressure forces one; malloc then keeps those pages for reuse, and the peak RSS of an initial
 * backup carried 60-100 MiB of them (docs/performance.md, "Memory of the initial backup").
 * Counting the bytes a stage drops and collecting once they pass a budget bounds that pile by
 * the budget, whatever the size of the file or the repository.
 *
 * The collector is V8's own `gc`, reached by setting --expose-gc at run time: the flag only
 * installs the function in contexts made after it is set (a new vm context here; sealing
 * workers started later find it on their global). Without it (a flag V8 refuses) the budget
 * does nothing and the default behaviour stays.
 *
 * Shared leaf: imports nothing from any layer.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** "minor" collects the young generation only (well under a millisecond for a small one). */
export type CollectionType = "minor" | "major";

type GcFunction = (options: { type: CollectionType }) => void;

let threadGc: GcFunction | null | undefined;

/** This thread's `gc` function, made available on first use; null if V8 has none. */
function gcFunction(): GcFunction | null {
  if (threadGc === undefined) {
    const global = (globalThis as { gc?: unknown }).gc;
    if (typeof global === "function") threadGc = global as GcFunction;
    else {
      setFlagsFromString("--expose-gc");
      const exposed: unknown = runInNewContext(
        "typeof gc === 'function' ? gc : null",
      );
      threadGc = typeof exposed === "function" ? (exposed as GcFunction) : null;
    }
  }
  return threadGc;
}

/** Runs one collection of this thread's heap; false when no collector is available. */
export function collectGarbage(type: CollectionType): boolean {
  const gc = gcFunction();
  if (gc === null) return false;
  gc({ type });
  return true;
}

/** Counts bytes dropped and collects once they reach the budget. */
export class GarbageBudget {
  readonly budgetBytes: number;
  readonly #collect: () => void;
  #dropped = 0;
  #collections = 0;

  /** `collect` defaults to a collection of `type`; tests pass a counter. */
  constructor(
    budgetBytes: number,
    type: CollectionType,
    collect: () => void = () => {
      collectGarbage(type);
    },
  ) {
    this.budgetBytes = budgetBytes;
    this.#collect = collect;
  }

  /** Collections run so far. */
  get collections(): number {
    return this.#collections;
  }

  /** Bytes dropped since the last collection (never more than the budget once this returns). */
  get pending(): number {
    return this.#dropped;
  }

  /** Notes buffers of `bytes` the caller no longer references. */
  dropped(bytes: number): void {
    this.#dropped += bytes;
    if (this.#dropped < this.budgetBytes) return;
    this.#dropped = 0;
    this.#collections += 1;
    this.#collect();
  }
}
