/**
 * Pack stores fill packs across a backup's puts (store/packs/pack-filler.ts): buffered puts
 * make packs of the pack size and one index segment per flush, a put without the option (or
 * of a snapshot) is a sync point, and a client that dies before its flush leaves nothing
 * claimed that is not stored: the packs it stored are indexed from their trailers by the next
 * writer, and what it still held is simply missing. Also the pack store's own check
 * (checkStorage, for `check`): refused segments and packs, and packs read whole. Real stores:
 * PackStores over one shared MemoryObjectStore, the index cache in memory.
 */
import { createHmac, randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  MemoryObjectStore,
  type ObjectStore,
} from "../../src/store/objects/index.js";
import { SEGMENT_PACKS } from "../../src/store/packs/pack-filler.js";
import { PackStore } from "../../src/store/packs/pack-store.js";
import type {
  BlobKind,
  BlobToPut,
  IndexAuthenticator,
} from "../../src/store/store.js";
import { toHex } from "../../src/util/bytes.js";

function authenticatorOf(key: Uint8Array): IndexAuthenticator {
  return { mac: (bytes) => createHmac("sha256", key).update(bytes).digest() };
}

const authenticator = authenticatorOf(randomBytes(32));
const slot = { name: "0123456789abcdef", bytes: new Uint8Array([1, 2, 3]) };

function blob(kind: BlobKind = "data", length = 1000): BlobToPut {
  return {
    id: new Uint8Array(randomBytes(32)),
    kind,
    bytes: new Uint8Array(randomBytes(length)),
  };
}

async function names(objects: ObjectStore, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const info of objects.list(prefix)) found.push(info.name);
  return found.sort();
}

/** The shared objects outlive each PackStore opened on them. */
function shared(objects: MemoryObjectStore): ObjectStore {
  return new Proxy(objects, {
    get(target, property): unknown {
      if (property === "close") return () => Promise.resolve();
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function"
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

describe("a pack store fills packs across buffered puts", () => {
  let objects: MemoryObjectStore;
  const opened: PackStore[] = [];

  function open(packSize = 40_000): PackStore {
    const store = new PackStore(shared(objects), { packSize });
    store.authenticate(authenticator);
    opened.push(store);
    return store;
  }

  beforeEach(async () => {
    objects = new MemoryObjectStore();
    await open().create(new Uint8Array([1]), slot);
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  it("twelve buffered puts of 10 KB make three packs of the pack size and no segment until flush(), which writes one; missing() and get() see the blobs at once", async () => {
    const store = open();
    const blobs = Array.from({ length: 120 }, () => blob());
    for (let start = 0; start < blobs.length; start += 10)
      await store.put(blobs.slice(start, start + 10), { buffer: true });
    expect(await names(objects, "packs/")).toHaveLength(3);
    expect(await names(objects, "index/")).toEqual([]);
    expect(await store.missing(blobs.map((b) => b.id))).toEqual([]);
    for (const b of [blobs[0]!, blobs[119]!])
      expect(await store.get(b.id)).toEqual(b.bytes);
    await store.flush();
    expect(await names(objects, "index/")).toHaveLength(1);
    const fresh = open();
    expect(await fresh.missing(blobs.map((b) => b.id))).toEqual([]);
    expect(await fresh.get(blobs[60]!.id)).toEqual(blobs[60]!.bytes);
  });

  it("a put without the option, or of a snapshot, stores and indexes everything put before it", async () => {
    const store = open();
    const early = [blob(), blob("tree", 300)];
    await store.put(early, { buffer: true });
    expect(await names(objects, "packs/")).toEqual([]);
    expect(await store.get(early[0]!.id)).toEqual(early[0]!.bytes);
    const plain = blob();
    await store.put([plain]);
    // One data pack (the buffered blob and the plain one), one tree pack, one segment.
    expect(await names(objects, "packs/")).toHaveLength(2);
    expect(await names(objects, "index/")).toHaveLength(1);
    const late = blob();
    const snapshot = blob("snapshot", 80);
    await store.put([late, snapshot], { buffer: true });
    expect(await names(objects, "index/")).toHaveLength(2);
    const fresh = open();
    expect(
      await fresh.missing([...early, plain, late].map((b) => b.id)),
    ).toEqual([]);
    expect(await fresh.get(snapshot.id)).toEqual(snapshot.bytes);
  });

  it("a client gone before its flush: the packs it stored are indexed from their trailers by the next writer, not uploaded again; what it still held is missing, never claimed", async () => {
    const blobs = Array.from({ length: 50 }, () => blob());
    const dying = open();
    await dying.put(blobs, { buffer: true });
    await dying.close();
    const [stored] = await names(objects, "packs/");
    expect(await names(objects, "packs/")).toHaveLength(1);
    expect(await names(objects, "index/")).toEqual([]);

    const next = open();
    const ids = blobs.map((b) => b.id);
    // Asking is not writing: nothing is indexed until this client puts something.
    expect(await next.missing(ids)).toHaveLength(50);
    await next.put(blobs, { buffer: true });
    await next.flush();
    // The 40 blobs of the stored pack were found in it; only the last 10 went into a new pack.
    const packs = await names(objects, "packs/");
    expect(packs).toHaveLength(2);
    expect(packs).toContain(stored);
    const fresh = open();
    expect(await fresh.missing(ids)).toEqual([]);
    for (const b of [blobs[0]!, blobs[49]!])
      expect(await fresh.get(b.id)).toEqual(b.bytes);
  });

  it(`packs waiting for a segment get one once ${SEGMENT_PACKS} of them are stored, before any flush`, async () => {
    const store = open(1000);
    const blobs = Array.from({ length: SEGMENT_PACKS + 1 }, () => blob());
    await store.put(blobs, { buffer: true });
    expect(await names(objects, "packs/")).toHaveLength(SEGMENT_PACKS + 1);
    expect(await names(objects, "index/")).toHaveLength(1);
    const fresh = open(1000);
    expect(
      (await fresh.missing(blobs.map((b) => b.id))).map(toHex),
    ).toHaveLength(1);
  });
});

describe("a pack store's check of its own objects (checkStorage, for check)", () => {
  let objects: MemoryObjectStore;

  function open(key = authenticator): PackStore {
    const store = new PackStore(shared(objects), { packSize: 4000 });
    store.authenticate(key);
    return store;
  }

  beforeEach(async () => {
    objects = new MemoryObjectStore();
    const store = open();
    await store.create(new Uint8Array([1]), slot);
    await store.put(Array.from({ length: 6 }, () => blob()));
    await store.close();
  });

  it("an intact repository: nothing found; packs are read whole only when selected, and counted", async () => {
    const store = open();
    const quick = await store.checkStorage({});
    expect(quick).toStrictEqual({
      packsRead: 0,
      bytesRead: 0,
      unindexedPacks: 0,
      problems: [],
    });
    const packs = await names(objects, "packs/");
    const progress: number[] = [];
    const full = await store.checkStorage({
      readPacks: () => true,
      onProgress: (p) => progress.push(p.packsRead),
    });
    expect(full.packsRead).toBe(packs.length);
    expect(full.bytesRead).toBeGreaterThan(6000);
    expect(progress.at(-1)).toBe(packs.length);
    expect(full.problems).toEqual([]);
    await store.close();
  });

  it("a flipped trailer byte is found only by reading the pack whole; a refused segment and a pack no segment names whose trailer fails are named with their reasons", async () => {
    const [pack] = await names(objects, "packs/");
    const bytes = (await objects.get(pack!)).slice();
    bytes[bytes.length - 20]! ^= 0x01; // in the trailer's MAC
    await objects.put(pack!, bytes);
    const store = open();
    expect((await store.checkStorage({})).problems).toEqual([]);
    const found = await store.checkStorage({ readPacks: () => true });
    expect(found.problems).toStrictEqual([
      {
        object: "pack",
        name: pack,
        state: "damaged",
        reason: "its SHA-256 is not its name",
      },
    ]);
    await store.close();

    // Another key's segment and pack: what storage (or another repository) can plant.
    const before = new Set([
      ...(await names(objects, "packs/")),
      ...(await names(objects, "index/")),
    ]);
    const stranger = open(authenticatorOf(randomBytes(32)));
    await stranger.put([blob()]);
    await stranger.close();
    const planted = [
      ...(await names(objects, "packs/")),
      ...(await names(objects, "index/")),
    ].filter((name) => !before.has(name));
    const fresh = open();
    const refused = await fresh.checkStorage({});
    expect(
      refused.problems.map((p) => [p.name, p.object, p.state, p.reason]),
    ).toStrictEqual(
      planted
        .sort()
        .map((name) =>
          name.startsWith("index/")
            ? [name, "index-segment", "refused", "it does not authenticate"]
            : [name, "pack", "refused", "its trailer does not authenticate"],
        ),
    );
    await fresh.close();
  });
});
