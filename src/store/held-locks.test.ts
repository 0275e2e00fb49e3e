import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { storeConformanceSuite } from "../../test/store-suite.js";
import { keepLocks } from "./held-locks.js";
import { MemoryStore } from "./memory/memory-store.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";

// Everything but the two watched methods passes through unchanged.
storeConformanceSuite("keepLocks(MemoryStore)", ({ appendOnly }) =>
  Promise.resolve({
    store: keepLocks(new MemoryStore({ appendOnly })).store,
    cleanup: () => Promise.resolve(),
  }),
);

describe("keepLocks()", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function sqlite(): Promise<SqliteStore> {
    dir = await mkdtemp(join(tmpdir(), "blindsync-held-locks-"));
    return SqliteStore.open(join(dir, "repo"), { create: true });
  }

  it("releaseHeld() frees the leases taken through it, so an exclusive lock is granted at once", async () => {
    const store = await sqlite();
    try {
      const keeper = keepLocks(store);
      const request = { owner: "backup", leaseMs: 60_000 };
      const first = await keeper.store.acquireLock({
        ...request,
        exclusive: false,
      });
      const second = await keeper.store.acquireLock({
        ...request,
        exclusive: false,
      });
      if (!first.acquired || !second.acquired) throw new Error("not granted");
      expect(keeper.held().sort()).toEqual([first.id, second.id].sort());
      const prune = { owner: "prune", leaseMs: 60_000, exclusive: true };
      expect((await store.acquireLock(prune)).acquired).toBe(false);

      await keeper.releaseHeld();
      expect(keeper.held()).toEqual([]);
      const granted = await store.acquireLock(prune);
      expect(granted.acquired).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("forgets a lock released through it and never lists a refused one", async () => {
    const store = await sqlite();
    try {
      const keeper = keepLocks(store);
      const taken = await keeper.store.acquireLock({
        owner: "prune",
        leaseMs: 60_000,
        exclusive: true,
      });
      if (!taken.acquired) throw new Error("not granted");
      const refused = await keeper.store.acquireLock({
        owner: "backup",
        leaseMs: 60_000,
        exclusive: false,
      });
      expect(refused.acquired).toBe(false);
      expect(keeper.held()).toEqual([taken.id]);
      await keeper.store.releaseLock(taken.id);
      expect(keeper.held()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("keeps a lock whose release failed listed, and releaseHeld() does not throw", async () => {
    const memory = new MemoryStore();
    const keeper = keepLocks(memory);
    const taken = await keeper.store.acquireLock({
      owner: "backup",
      leaseMs: 60_000,
      exclusive: false,
    });
    if (!taken.acquired) throw new Error("not granted");
    await memory.close();
    // A closed store refuses: the lease can only run out now.
    await expect(keeper.releaseHeld()).resolves.toBeUndefined();
    expect(keeper.held()).toEqual([taken.id]);
  });
});
