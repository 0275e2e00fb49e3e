/**
 * The blob saver yields to the event loop now and then, even when every add() could finish at
 * once: the walk runs in promise continuations, and without a yield no timer (the lock's lease
 * refresh) would run until batches were under way.
 */
import { describe, expect, it } from "vitest";
import type { ClientCache, Repository } from "../../repo/index.js";
import { BlobSaver } from "./blob-saver.js";

describe("BlobSaver.add()", () => {
  it("lets a timer run during a long stretch of adds that need no I/O", async () => {
    // Every blob is known already, and each lookup takes a millisecond: 100 adds take 100 ms.
    const cache = {
      hasBlob: () => {
        const until = performance.now() + 1;
        while (performance.now() < until);
        return true;
      },
    } as unknown as ClientCache;
    // No blob reaches the store: the repository is never used.
    const saver = new BlobSaver(undefined as unknown as Repository, cache);
    let fired = false;
    setTimeout(() => {
      fired = true;
    }, 0);
    for (let index = 0; index < 100; index++)
      await saver.add(
        "data",
        new Uint8Array(32).fill(index),
        new Uint8Array(1),
      );
    expect(fired).toBe(true);
  });
});
