/**
 * The one conformance suite every Store runs (memory, SQLite, remote over a pipe and over ssh).
 * It speaks only the Store interface, so a new store adds ten lines, not a new test file.
 */

import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { BlindsyncError } from "../src/errors.js";
import type {
  BlobId,
  BlobInfo,
  BlobKind,
  KeySlot,
  Store,
} from "../src/store/store.js";
import {
  MAX_LEASE_MS,
  MAX_REPORTED_HOLDERS,
} from "../src/store/rules/index.js";
import { toHex } from "../src/util/bytes.js";

export interface StoreUnderTest {
  readonly store: Store;
  cleanup(): Promise<void>;
}

export type MakeStore = (options: {
  appendOnly: boolean;
}) => Promise<StoreUnderTest>;

const config = new Uint8Array([0x62, 0x73, 0x01, 0x00, 0xff]);
const firstSlot: KeySlot = {
  name: "0123456789abcdef",
  bytes: new Uint8Array([1, 2, 3]),
};
const secondSlot: KeySlot = {
  name: "fedcba9876543210",
  bytes: new Uint8Array([4, 5, 6]),
};

function newId(): BlobId {
  return new Uint8Array(randomBytes(32));
}

function blob(kind: BlobKind = "data", length = 100) {
  return { id: newId(), kind, bytes: new Uint8Array(randomBytes(length)) };
}

async function collect(iterable: AsyncIterable<BlobInfo>): Promise<BlobInfo[]> {
  const result: BlobInfo[] = [];
  for await (const info of iterable) result.push(info);
  return result;
}

function hexes(ids: readonly BlobId[]): string[] {
  return ids.map(toHex);
}

async function expectKind(
  promise: Promise<unknown>,
  kind: string,
): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BlindsyncError);
  expect((error as BlindsyncError).kind).toBe(kind);
  expect((error as BlindsyncError).message).not.toContain("\n");
}

export function storeConformanceSuite(
  name: string,
  makeStore: MakeStore,
): void {
  describe(`${name} conforms to the Store contract`, () => {
    const cleanups: (() => Promise<void>)[] = [];

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function open(appendOnly = false): Promise<Store> {
      const made = await makeStore({ appendOnly });
      cleanups.push(async () => {
        await made.store.close();
        await made.cleanup();
      });
      return made.store;
    }

    async function created(appendOnly = false): Promise<Store> {
      const store = await open(appendOnly);
      await store.create(config, firstSlot);
      return store;
    }

    describe("repository lifecycle", () => {
      it("readConfig() returns exactly the config record that create() wrote", async () => {
        const store = await created();
        expect(await store.readConfig()).toEqual(config);
      });

      it("readConfig() on an empty location throws no-repository", async () => {
        const store = await open();
        await expectKind(store.readConfig(), "no-repository");
      });

      it("create() refuses a second repository at the same location and keeps the first", async () => {
        const store = await created();
        await expectKind(
          store.create(new Uint8Array([9]), {
            name: "other",
            bytes: new Uint8Array([9]),
          }),
          "failed",
        );
        expect(await store.readConfig()).toEqual(config);
        expect(await store.listKeySlots()).toEqual([firstSlot]);
      });

      it("create() writes the first key slot", async () => {
        const store = await created();
        expect(await store.listKeySlots()).toEqual([firstSlot]);
      });

      it("close() is idempotent", async () => {
        const store = await created();
        await store.close();
        await store.close();
      });

      it("reports appendOnly as it was opened", async () => {
        expect((await created(true)).appendOnly).toBe(true);
        expect((await created(false)).appendOnly).toBe(false);
      });
    });

    describe("blobs", () => {
      it("get() returns exactly the bytes put() stored, of every kind", async () => {
        const store = await created();
        const blobs = [
          blob("data", 1),
          blob("tree", 4096),
          blob("snapshot", 0),
          blob("data"),
        ];
        await store.put(blobs);
        for (const b of blobs) expect(await store.get(b.id)).toEqual(b.bytes);
      });

      it("put() is idempotent and never overwrites an existing id", async () => {
        const store = await created();
        const original = blob();
        await store.put([original]);
        await store.put([original]);
        await store.put([{ ...original, bytes: new Uint8Array([7, 7, 7]) }]);
        expect(await store.get(original.id)).toEqual(original.bytes);
        expect(await collect(store.list())).toHaveLength(1);
      });

      it("put() keeps the first of two blobs with the same id in one batch", async () => {
        const store = await created();
        const first = blob();
        await store.put([first, { ...first, bytes: new Uint8Array([1]) }]);
        expect(await store.get(first.id)).toEqual(first.bytes);
      });

      it("put() of an empty batch does nothing", async () => {
        const store = await created();
        await store.put([]);
        expect(await collect(store.list())).toEqual([]);
      });

      it("put() throws RangeError for a 31-byte id and stores nothing of the batch", async () => {
        const store = await created();
        const good = blob();
        const bad = {
          id: new Uint8Array(31),
          kind: "data" as const,
          bytes: new Uint8Array(1),
        };
        await expect(store.put([good, bad])).rejects.toThrow(RangeError);
        expect(hexes(await store.missing([good.id]))).toEqual(hexes([good.id]));
      });

      it("put() copes with a 16 MiB blob", async () => {
        const store = await created();
        const big = blob("data", 16 * 1024 * 1024);
        await store.put([big]);
        const read = await store.get(big.id);
        expect(read.length).toBe(big.bytes.length);
        expect(Buffer.from(read).equals(big.bytes)).toBe(true);
      });

      it("get() of an absent id throws not-found", async () => {
        const store = await created();
        await expectKind(store.get(newId()), "not-found");
      });

      it("changing bytes after put() or get() does not change the stored blob", async () => {
        const store = await created();
        const b = blob();
        const expected = b.bytes.slice();
        await store.put([b]);
        b.bytes.fill(0);
        (await store.get(b.id)).fill(0);
        expect(await store.get(b.id)).toEqual(expected);
      });

      it("missing() answers in input order, each id once", async () => {
        const store = await created();
        const [a, b, c] = [blob(), blob(), blob()];
        await store.put([b]);
        const answer = await store.missing([c.id, a.id, b.id, c.id, a.id]);
        expect(hexes(answer)).toEqual(hexes([c.id, a.id]));
      });

      it("missing() of an empty list is empty", async () => {
        const store = await created();
        expect(await store.missing([])).toEqual([]);
      });

      it("missing() answers 1000 ids at once", async () => {
        const store = await created();
        const present = Array.from({ length: 500 }, () => blob("data", 10));
        await store.put(present);
        const absent = Array.from({ length: 500 }, newId);
        const asked = present.flatMap((b, i) => [b.id, absent[i]!]);
        expect(hexes(await store.missing(asked))).toEqual(hexes(absent));
      });

      it("list() yields every blob with its kind and length, or only those of one kind", async () => {
        const store = await created();
        const blobs = [
          blob("data", 3),
          blob("data", 5),
          blob("tree", 7),
          blob("snapshot", 11),
        ];
        await store.put(blobs);
        const infos = (list: BlobInfo[]) =>
          list.map((i) => `${toHex(i.id)} ${i.kind} ${i.length}`).sort();
        const expected = (kind?: BlobKind) =>
          blobs
            .filter((b) => kind === undefined || b.kind === kind)
            .map((b) => `${toHex(b.id)} ${b.kind} ${b.bytes.length}`)
            .sort();
        expect(infos(await collect(store.list()))).toEqual(expected());
        for (const kind of ["data", "tree", "snapshot"] as const) {
          expect(infos(await collect(store.list(kind)))).toEqual(
            expected(kind),
          );
        }
      });

      it("list() yields every one of more blobs than a page", async () => {
        const store = await created();
        const blobs = Array.from({ length: 2500 }, () => blob("tree", 1));
        await store.put(blobs);
        const listed = (await collect(store.list("tree"))).map((i) =>
          toHex(i.id),
        );
        expect(listed.sort()).toEqual(hexes(blobs.map((b) => b.id)).sort());
      });

      it("delete() removes blobs and ignores absent ids", async () => {
        const store = await created();
        const [a, b] = [blob(), blob()];
        await store.put([a, b]);
        await store.delete([a.id, newId()]);
        expect(hexes(await store.missing([a.id, b.id]))).toEqual(hexes([a.id]));
        await expectKind(store.get(a.id), "not-found");
        expect(await store.get(b.id)).toEqual(b.bytes);
      });

      it("a deleted blob can be put again", async () => {
        const store = await created();
        const a = blob();
        await store.put([a]);
        await store.delete([a.id]);
        await store.put([a]);
        expect(await store.get(a.id)).toEqual(a.bytes);
      });
    });

    describe("key slots", () => {
      it("addKeySlot() adds, and listKeySlots() orders by name", async () => {
        const store = await open();
        await store.create(config, secondSlot);
        await store.addKeySlot(firstSlot);
        expect(await store.listKeySlots()).toEqual([firstSlot, secondSlot]);
      });

      it("addKeySlot() refuses a name that exists and keeps the old slot", async () => {
        const store = await created();
        await expectKind(
          store.addKeySlot({
            name: firstSlot.name,
            bytes: new Uint8Array([0]),
          }),
          "failed",
        );
        expect(await store.listKeySlots()).toEqual([firstSlot]);
      });

      it("removeKeySlot() removes a slot", async () => {
        const store = await created();
        await store.addKeySlot(secondSlot);
        await store.removeKeySlot(firstSlot.name);
        expect(await store.listKeySlots()).toEqual([secondSlot]);
      });

      it("removeKeySlot() refuses the last slot", async () => {
        const store = await created();
        await expectKind(store.removeKeySlot(firstSlot.name), "failed");
        expect(await store.listKeySlots()).toEqual([firstSlot]);
      });

      it("removeKeySlot() of an unknown name throws not-found", async () => {
        const store = await created();
        await store.addKeySlot(secondSlot);
        await expectKind(store.removeKeySlot("no-such-slot"), "not-found");
        expect(await store.listKeySlots()).toEqual([firstSlot, secondSlot]);
      });

      it("listKeySlots() orders names by code point, as SQLite orders UTF-8", async () => {
        const store = await open();
        // UTF-16 order would put the astral name first; code point order puts it last.
        const names = ["\u{1f511}", "\uffee", "B", "a"];
        await store.create(config, { name: names[0]!, bytes: config });
        for (const name of names.slice(1))
          await store.addKeySlot({ name, bytes: config });
        expect((await store.listKeySlots()).map((slot) => slot.name)).toEqual([
          "B",
          "a",
          "\uffee",
          "\u{1f511}",
        ]);
      });
    });

    describe("append-only", () => {
      it("delete() throws append-only and deletes nothing", async () => {
        const store = await created(true);
        const a = blob();
        await store.put([a]);
        await expectKind(store.delete([a.id]), "append-only");
        expect(await store.get(a.id)).toEqual(a.bytes);
      });

      it("removeKeySlot() throws append-only and removes nothing", async () => {
        const store = await created(true);
        await store.addKeySlot(secondSlot);
        await expectKind(store.removeKeySlot(firstSlot.name), "append-only");
        expect(await store.listKeySlots()).toEqual([firstSlot, secondSlot]);
      });

      it("put() and addKeySlot() still work, and put() still never overwrites", async () => {
        const store = await created(true);
        const a = blob();
        await store.put([a]);
        await store.put([{ ...a, bytes: new Uint8Array([0]) }]);
        await store.addKeySlot(secondSlot);
        expect(await store.get(a.id)).toEqual(a.bytes);
        expect(await store.listKeySlots()).toEqual([firstSlot, secondSlot]);
      });

      it("compact() throws append-only and every blob stays readable", async () => {
        const store = await created(true);
        const a = blob();
        await store.put([a]);
        await expectKind(store.compact(), "append-only");
        expect(await store.get(a.id)).toEqual(a.bytes);
      });

      it("a refusal names the action and says which connection may do it", async () => {
        const store = await created(true);
        const refusal: unknown = await store.delete([newId()]).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(refusal).toBeInstanceOf(BlindsyncError);
        expect((refusal as BlindsyncError).message).toMatch(
          /append-only: cannot delete blobs/,
        );
        expect((refusal as BlindsyncError).hint).toMatch(/not append-only/);
      });
    });

    describe("locks and the prune generation", () => {
      const shared = {
        exclusive: false,
        owner: "backup, pid 1",
        leaseMs: 60_000,
      };
      const exclusive = {
        exclusive: true,
        owner: "prune, pid 2",
        leaseMs: 60_000,
      };

      it("generation() starts at 0 and bumpGeneration() counts up", async () => {
        const store = await created();
        expect(await store.generation()).toBe(0);
        expect(await store.bumpGeneration()).toBe(1);
        expect(await store.bumpGeneration()).toBe(2);
        expect(await store.generation()).toBe(2);
      });

      it("shared locks coexist and an exclusive one is refused with the holders", async () => {
        const store = await created();
        const first = await store.acquireLock(shared);
        const second = await store.acquireLock(shared);
        expect(first.acquired && second.acquired).toBe(true);
        const refused = await store.acquireLock(exclusive);
        expect(refused.acquired).toBe(false);
        if (!refused.acquired) {
          expect(refused.holders.map((holder) => holder.owner)).toEqual([
            shared.owner,
            shared.owner,
          ]);
          expect(
            refused.holders.every((holder) => holder.expiresAt > Date.now()),
          ).toBe(true);
        }
      });

      it("an exclusive lock refuses shared ones until it is released", async () => {
        const store = await created();
        const prune = await store.acquireLock(exclusive);
        expect(prune.acquired).toBe(true);
        const refused = await store.acquireLock(shared);
        expect(
          refused.acquired
            ? []
            : refused.holders.map((holder) => holder.exclusive),
        ).toEqual([true]);
        if (prune.acquired) await store.releaseLock(prune.id);
        expect((await store.acquireLock(shared)).acquired).toBe(true);
      });

      it("an expired lease no longer blocks anyone, and cannot be refreshed", async () => {
        const store = await created();
        const dead = await store.acquireLock({ ...exclusive, leaseMs: 30 });
        await new Promise((resolve) => setTimeout(resolve, 80));
        expect((await store.acquireLock(shared)).acquired).toBe(true);
        if (dead.acquired)
          await expectKind(store.refreshLock(dead.id, 60_000), "locked");
      });

      it("refreshLock() extends a live lease; releaseLock() is idempotent", async () => {
        const store = await created();
        const lock = await store.acquireLock({ ...shared, leaseMs: 200 });
        expect(lock.acquired).toBe(true);
        if (!lock.acquired) return;
        await store.refreshLock(lock.id, 60_000);
        await new Promise((resolve) => setTimeout(resolve, 250));
        const refused = await store.acquireLock(exclusive);
        expect(refused.acquired).toBe(false);
        await store.releaseLock(lock.id);
        await store.releaseLock(lock.id);
        expect((await store.acquireLock(exclusive)).acquired).toBe(true);
      });

      it("acquireLock() rejects an owner with control characters and a silly lease", async () => {
        const store = await created();
        await expect(
          store.acquireLock({ ...shared, owner: "a\nb" }),
        ).rejects.toThrow();
        await expect(
          store.acquireLock({ ...shared, leaseMs: 0 }),
        ).rejects.toThrow();
      });

      it("locks work on an append-only store, which refuses to bump the generation", async () => {
        const store = await created(true);
        expect((await store.acquireLock(shared)).acquired).toBe(true);
        await expectKind(store.bumpGeneration(), "append-only");
        expect(await store.generation()).toBe(0);
      });

      it("lock ids are long random secrets, and a refusal names holders without them", async () => {
        const store = await created();
        const first = await store.acquireLock(exclusive);
        const second = await store.acquireLock(exclusive);
        if (!first.acquired || second.acquired)
          throw new Error("expected the first lock and a refusal");
        expect(first.id).toMatch(/^[0-9a-f]{64}$/);
        expect(Object.keys(second.holders[0] ?? {}).sort()).toEqual([
          "exclusive",
          "expiresAt",
          "owner",
        ]);
        expect(JSON.stringify(second)).not.toContain(first.id);
        await store.releaseLock(first.id);
        const third = await store.acquireLock(exclusive);
        expect(third.acquired && third.id !== first.id).toBe(true);
      });

      it("releaseLock() and refreshLock() of an id that is not held do nothing to the holder", async () => {
        const store = await created();
        const held = await store.acquireLock(exclusive);
        expect(held.acquired).toBe(true);
        const guess = toHex(newId());
        await store.releaseLock(guess);
        await store.releaseLock("");
        await expectKind(store.refreshLock(guess, 60_000), "locked");
        expect((await store.acquireLock(shared)).acquired).toBe(false);
      });

      it("a lease is capped at MAX_LEASE_MS, when taken and when refreshed", async () => {
        const store = await created();
        const day = 24 * 60 * 60 * 1000;
        const before = Date.now();
        const lock = await store.acquireLock({ ...exclusive, leaseMs: day });
        if (!lock.acquired) throw new Error("expected the lock");
        expect(lock.leaseMs).toBe(MAX_LEASE_MS);
        const expiry = async () => {
          const refused = await store.acquireLock(shared);
          return refused.acquired ? 0 : (refused.holders[0]?.expiresAt ?? 0);
        };
        expect(await expiry()).toBeGreaterThanOrEqual(before + MAX_LEASE_MS);
        expect(await expiry()).toBeLessThanOrEqual(Date.now() + MAX_LEASE_MS);
        await store.refreshLock(lock.id, day);
        expect(await expiry()).toBeLessThanOrEqual(Date.now() + MAX_LEASE_MS);
        expect(
          (await store.acquireLock({ ...shared, leaseMs: 500 })).acquired,
        ).toBe(false);
      });

      it("a refusal lists a bounded number of holders and counts the rest", async () => {
        const store = await created();
        for (let index = 0; index < MAX_REPORTED_HOLDERS + 4; index++)
          expect((await store.acquireLock(shared)).acquired).toBe(true);
        const refused = await store.acquireLock(exclusive);
        expect(
          refused.acquired ? [] : [refused.holders.length, refused.more],
        ).toEqual([MAX_REPORTED_HOLDERS, 4]);
      });

      it("an append-only store refuses an exclusive lock and takes no lock for it", async () => {
        const store = await created(true);
        await expectKind(store.acquireLock(exclusive), "append-only");
        const lock = await store.acquireLock(shared);
        expect(lock.acquired).toBe(true);
        const left = await store.removeLocks(false);
        expect(left.live.map((holder) => holder.exclusive)).toEqual([false]);
      });

      it("removeLocks() removes expired locks, and with all every lock, whose holder then loses it", async () => {
        const store = await created();
        // The live one first: taking a lock removes expired ones, the dead one among them.
        const live = await store.acquireLock(shared);
        const dead = await store.acquireLock({ ...shared, leaseMs: 30 });
        if (!dead.acquired || !live.acquired) throw new Error("expected locks");
        await new Promise((resolve) => setTimeout(resolve, 80));
        const expired = await store.removeLocks(false);
        expect([expired.removed, expired.live.length, expired.more]).toEqual([
          1, 1, 0,
        ]);
        expect(expired.live[0]?.owner).toBe(shared.owner);
        const all = await store.removeLocks(true);
        expect([all.removed, all.live.length]).toEqual([1, 0]);
        await expectKind(store.refreshLock(live.id, 60_000), "locked");
        expect((await store.acquireLock(exclusive)).acquired).toBe(true);
      });

      it("removeLocks(true) is refused on an append-only store and removes nothing", async () => {
        const store = await created(true);
        const lock = await store.acquireLock(shared);
        if (!lock.acquired) throw new Error("expected the lock");
        await expectKind(store.removeLocks(true), "append-only");
        await store.refreshLock(lock.id, 60_000);
        expect((await store.removeLocks(false)).live).toHaveLength(1);
      });

      it("compact() keeps every blob readable", async () => {
        const store = await created();
        const kept = blob("data", 5000);
        const dropped = blob("data", 5000);
        await store.put([kept, dropped]);
        await store.delete([dropped.id]);
        await store.compact();
        expect(await store.get(kept.id)).toEqual(kept.bytes);
        expect(hexes(await store.missing([kept.id, dropped.id]))).toEqual(
          hexes([dropped.id]),
        );
      });
    });
  });
}
