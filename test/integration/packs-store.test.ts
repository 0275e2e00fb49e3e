/**
 * The pack store's own promises, beyond the Store contract: what storage can and cannot make a
 * client believe (edited, swapped and forged segments, flipped pack bytes), the resume of an
 * interrupted put from pack trailers, the index cache read incrementally, compact freeing
 * objects, and what works without the key. Real stores throughout: PackStores over one shared
 * MemoryObjectStore or a directory, the cache in real SQLite files; the counting wrapper only
 * counts the calls it passes on. Over 400 lines because each case builds by hand the storage
 * state it is about, on the stores and helpers set up once here.
 */
import { createHmac, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlindsyncError } from "../../src/errors.js";
import {
  DirObjectStore,
  MemoryObjectStore,
  type ByteRange,
  type ObjectInfo,
  type ObjectStore,
} from "../../src/store/objects/index.js";
import {
  PackStore,
  TEMPORARY_AGE_MS,
} from "../../src/store/packs/pack-store.js";
import { decodeSegment, encodeSegment } from "../../src/store/packs/segment.js";
import type {
  BlobKind,
  BlobToPut,
  IndexAuthenticator,
} from "../../src/store/store.js";
import { toHex } from "../../src/util/bytes.js";
import { removeDir, tempDir } from "../helpers/trees.js";

function authenticatorOf(key: Uint8Array): IndexAuthenticator {
  return { mac: (bytes) => createHmac("sha256", key).update(bytes).digest() };
}

const key = randomBytes(32);
const authenticator = authenticatorOf(key);
const slot = { name: "0123456789abcdef", bytes: new Uint8Array([1, 2, 3]) };

function blob(kind: BlobKind = "data", length = 1000): BlobToPut {
  return {
    id: new Uint8Array(randomBytes(32)),
    kind,
    bytes: new Uint8Array(randomBytes(length)),
  };
}

/** Passes every call on to `inner`, counting gets and puts by folder. */
class CountingObjectStore implements ObjectStore {
  readonly gets: string[] = [];
  readonly puts: string[] = [];
  constructor(readonly inner: ObjectStore) {}
  get where(): string {
    return this.inner.where;
  }
  put(name: string, bytes: Uint8Array): Promise<void> {
    this.puts.push(name);
    return this.inner.put(name, bytes);
  }
  get(name: string, range?: ByteRange): Promise<Uint8Array> {
    this.gets.push(name);
    return this.inner.get(name, range);
  }
  stat(name: string): Promise<ObjectInfo | undefined> {
    return this.inner.stat(name);
  }
  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }
  delete(name: string): Promise<void> {
    return this.inner.delete(name);
  }
  /** The shared objects outlive each PackStore opened on them. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function names(objects: ObjectStore, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const info of objects.list(prefix)) found.push(info.name);
  return found.sort();
}

async function kindOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return error instanceof BlindsyncError ? error.kind : String(error);
}

describe("PackStore on storage it does not trust", () => {
  let dir: string;
  let objects: MemoryObjectStore;
  const opened: PackStore[] = [];

  /** A PackStore on the shared objects, with its own cache file (or in memory). */
  function open(
    options: {
      cache?: string;
      keyless?: boolean;
      packSize?: number;
      on?: ObjectStore;
    } = {},
  ): PackStore {
    const store = new PackStore(
      options.on ?? new CountingObjectStore(objects),
      {
        ...(options.cache === undefined
          ? {}
          : { indexCachePath: join(dir, options.cache) }),
        ...(options.packSize === undefined
          ? {}
          : { packSize: options.packSize }),
      },
    );
    if (options.keyless !== true) store.authenticate(authenticator);
    opened.push(store);
    return store;
  }

  beforeEach(async () => {
    dir = await tempDir("blindsync-packs-");
    objects = new MemoryObjectStore();
    await open().create(new Uint8Array([1]), slot);
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await removeDir(dir);
  });

  async function onlySegment(): Promise<string> {
    const segments = await names(objects, "index/");
    expect(segments).toHaveLength(1);
    return segments[0]!;
  }

  it("a flipped byte in a segment: the segment is refused and its blobs are missing from the index; a read indexes their pack again from its authenticated trailer", async () => {
    const blobs = [blob(), blob()];
    await open().put(blobs);
    const segment = await onlySegment();
    const bytes = await objects.get(segment);
    bytes[40]! ^= 0x01;
    await objects.put(segment, bytes);
    const fresh = open();
    const ids = blobs.map((b) => b.id);
    expect((await fresh.missing(ids)).map(toHex)).toEqual(ids.map(toHex));
    expect(fresh.indexReport().rejectedSegments).toEqual([
      segment.slice("index/".length),
    ]);
    // What a backup's resume does before its first write, a reader does when a blob is not
    // found: the pack's trailer is authenticated, so its blobs are believed, and indexed by a
    // segment written again (the same packs in the same order: the same object, whole).
    expect(toHex(await fresh.get(ids[0]!))).toBe(toHex(blobs[0]!.bytes));
    expect(await fresh.missing(ids)).toEqual([]);
    expect(toHex(await objects.get(segment))).not.toBe(toHex(bytes));
    const after = open();
    expect(await after.missing(ids)).toEqual([]);
    expect(after.indexReport().rejectedSegments).toEqual([]);
    // A blob no pack holds is still not found.
    expect(await kindOf(after.get(blob().id))).toBe("not-found");
  });

  it("swapped entries and a segment forged without the key are refused; the honest one is believed", async () => {
    const honest = [blob(), blob()];
    await open().put(honest);
    const segment = await onlySegment();
    const decoded = decodeSegment(
      await objects.get(segment),
      authenticator,
      "segment",
    );
    // Storage knows the layout and the ids it stores, not the key: it forges a segment that
    // says a blob it never got is in the pack.
    const claimed = blob();
    const forged = encodeSegment(
      {
        ...decoded,
        entries: [{ ...decoded.entries[0]!, id: claimed.id }],
      },
      authenticatorOf(randomBytes(32)),
    );
    await objects.put(`index/${forged.id}`, forged.bytes);
    const swapped = (await objects.get(segment)).slice();
    const first = 24 + 41;
    const second = first + 48;
    swapped.set(
      (await objects.get(segment)).subarray(second, second + 32),
      first,
    );
    swapped.set(
      (await objects.get(segment)).subarray(first, first + 32),
      second,
    );
    await objects.put("index/" + "ab".repeat(32), swapped);
    const fresh = open();
    expect((await fresh.missing([claimed.id])).map(toHex)).toEqual([
      toHex(claimed.id),
    ]);
    expect(await fresh.missing(honest.map((b) => b.id))).toEqual([]);
    for (const b of honest) expect(await fresh.get(b.id)).toEqual(b.bytes);
    expect(fresh.indexReport().rejectedSegments).toHaveLength(2);
    // The claimed blob is uploaded by the next put, not skipped.
    await fresh.put([claimed]);
    expect(await fresh.get(claimed.id)).toEqual(claimed.bytes);
  });

  it("a flipped byte in a pack changes only the blob it lands in, and scrub names the pack", async () => {
    const [a, b] = [blob("data", 500), blob("data", 500)];
    await open().put([a, b]);
    const [pack] = await names(objects, "packs/");
    const bytes = await objects.get(pack!);
    bytes[700]! ^= 0x80; // inside b, the second blob
    await objects.put(pack!, bytes);
    const store = open();
    expect(await store.get(a.id)).toEqual(a.bytes);
    const read = await store.get(b.id);
    expect(read).not.toEqual(b.bytes);
    expect(read.length).toBe(b.bytes.length);
    const scrubbed: string[] = [];
    for await (const name of store.scrub()) scrubbed.push(name);
    expect(scrubbed).toEqual([pack]);
  });

  it("an interrupted put (packs stored, no segment) is indexed from the trailers and not uploaded again", async () => {
    const blobs = Array.from({ length: 20 }, () => blob("data", 2000));
    const first = open({ packSize: 10_000 });
    await first.put(blobs);
    const packs = await names(objects, "packs/");
    expect(packs.length).toBeGreaterThan(1);
    // As if killed after the packs and before the segment.
    for (const name of await names(objects, "index/"))
      await objects.delete(name);
    const counting = new CountingObjectStore(objects);
    const next = open({ on: counting, packSize: 10_000 });
    expect(await next.missing([blobs[0]!.id])).toHaveLength(1);
    await next.put(blobs);
    expect(counting.puts.filter((name) => name.startsWith("packs/"))).toEqual(
      [],
    );
    expect(await names(objects, "packs/")).toEqual(packs);
    expect(await next.missing(blobs.map((b) => b.id))).toEqual([]);
    const fresh = open();
    for (const b of blobs) expect(await fresh.get(b.id)).toEqual(b.bytes);
  });

  it("a pack whose trailer does not authenticate is not indexed from it", async () => {
    const planted = blob("data", 300);
    const stranger = new PackStore(new CountingObjectStore(objects));
    stranger.authenticate(authenticatorOf(randomBytes(32)));
    opened.push(stranger);
    await stranger.put([planted]);
    for (const name of await names(objects, "index/"))
      await objects.delete(name);
    const store = open();
    await store.put([blob()]);
    expect((await store.missing([planted.id])).map(toHex)).toEqual([
      toHex(planted.id),
    ]);
    expect(store.indexReport().rejectedPacks).toHaveLength(1);
  });

  it("a fresh cache reads every segment once; a warm cache reads only the new ones", async () => {
    const writer = open();
    const early = [blob(), blob("tree")];
    await writer.put([early[0]!]);
    await writer.put([early[1]!]);
    const coldObjects = new CountingObjectStore(objects);
    const cold = open({ on: coldObjects, cache: "cache.sqlite" });
    expect(await cold.missing(early.map((b) => b.id))).toEqual([]);
    expect(coldObjects.gets.filter((n) => n.startsWith("index/"))).toHaveLength(
      2,
    );
    await cold.close();
    const late = blob();
    await writer.put([late]);
    const warmObjects = new CountingObjectStore(objects);
    const warm = open({ on: warmObjects, cache: "cache.sqlite" });
    expect(await warm.missing([...early, late].map((b) => b.id))).toEqual([]);
    expect(warmObjects.gets.filter((n) => n.startsWith("index/"))).toEqual(
      await names(objects, "index/").then((all) =>
        all.filter((n) => !coldObjects.gets.includes(n)),
      ),
    );
    expect(await warm.get(late.id)).toEqual(late.bytes);
  });

  it("a cache filled under another key is emptied, not believed", async () => {
    const a = blob();
    const other = new PackStore(new CountingObjectStore(objects), {
      indexCachePath: join(dir, "shared.sqlite"),
    });
    other.authenticate(authenticator);
    await other.put([a]);
    await other.close();
    // The same cache file and objects under another key (another repository's cache, or a
    // key changed): the cache's word is not the index's, so none of it may answer.
    const stranger = new PackStore(new CountingObjectStore(objects), {
      indexCachePath: join(dir, "shared.sqlite"),
    });
    stranger.authenticate(authenticatorOf(randomBytes(32)));
    opened.push(stranger);
    expect(await stranger.missing([a.id])).toHaveLength(1);
  });

  it("compact repacks, frees packs and segments, and every live blob stays readable", async () => {
    const store = open({ packSize: 20_000 });
    const blobs = Array.from({ length: 40 }, () => blob("data", 1000));
    for (let start = 0; start < 40; start += 10)
      await store.put(blobs.slice(start, start + 10));
    const doomed = blobs.filter((_, index) => index % 4 !== 0);
    const kept = blobs.filter((_, index) => index % 4 === 0);
    await store.delete(doomed.map((b) => b.id));
    const size = async () => {
      let total = 0;
      for await (const info of objects.list("packs/")) total += info.size;
      return total;
    };
    const before = await size();
    await store.compact();
    expect(await size()).toBeLessThan(before / 2);
    expect(await names(objects, "packs/")).toHaveLength(1);
    expect(await names(objects, "index/")).toHaveLength(1);
    for (const b of kept) expect(await store.get(b.id)).toEqual(b.bytes);
    const fresh = open();
    expect((await fresh.missing(blobs.map((b) => b.id))).length).toBe(
      doomed.length,
    );
    for (const b of kept) expect(await fresh.get(b.id)).toEqual(b.bytes);
    // Nothing left to do: a second compact writes nothing.
    const puts = new CountingObjectStore(objects);
    const again = open({ on: puts, packSize: 20_000 });
    await again.compact();
    expect(puts.puts).toEqual([]);
  });

  it("compact removes the temporary files of writers that died in a put, an hour old, and no other", async () => {
    const root = join(dir, "pack-dir");
    const onDisk = await DirObjectStore.open(root, { create: true });
    const store = open({ on: onDisk });
    await store.create(new Uint8Array([1]), slot);
    const kept = blob("data", 1000);
    await store.put([kept]);
    const dead = join(root, "index", ".segment.0123456789ab.tmp");
    const live = join(root, "index", ".segment.ba9876543210.tmp");
    await writeFile(dead, "half a segment");
    await writeFile(live, "a put going on");
    const old = (Date.now() - TEMPORARY_AGE_MS - 60_000) / 1000;
    await utimes(dead, old, old);
    await store.compact();
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(await store.get(kept.id)).toEqual(kept.bytes);
    await onDisk.close();
  });

  it("a client with an older cache sees blobs another client's compact moved", async () => {
    const first = open({ cache: "first.sqlite", packSize: 5000 });
    const blobs = Array.from({ length: 8 }, () => blob("data", 1000));
    await first.put(blobs);
    expect(await first.missing(blobs.map((b) => b.id))).toEqual([]);
    const pruner = open();
    await pruner.delete(blobs.slice(0, 4).map((b) => b.id));
    await pruner.compact();
    for (const b of blobs.slice(4))
      expect(await first.get(b.id)).toEqual(b.bytes);
  });

  it("without the key: config, key slots, locks, generation and snapshots work, the index does not", async () => {
    const snapshot = blob("snapshot", 80);
    const data = blob();
    await open().put([data, snapshot]);
    const keyless = open({ keyless: true });
    expect(await keyless.readConfig()).toEqual(new Uint8Array([1]));
    expect(await keyless.listKeySlots()).toEqual([slot]);
    const lock = await keyless.acquireLock({
      exclusive: false,
      owner: "test",
      leaseMs: 60_000,
    });
    expect(lock.acquired).toBe(true);
    expect(await keyless.generation()).toBe(0);
    const snapshots: string[] = [];
    for await (const info of keyless.list("snapshot"))
      snapshots.push(`${toHex(info.id)} ${info.length}`);
    expect(snapshots).toEqual([`${toHex(snapshot.id)} 80`]);
    expect(await keyless.get(snapshot.id)).toEqual(snapshot.bytes);
    expect(await kindOf(keyless.get(data.id))).toBe("failed");
    expect(await kindOf(keyless.missing([data.id]))).toBe("failed");
    expect(await kindOf(keyless.put([blob()]))).toBe("failed");
    expect(await kindOf(keyless.compact())).toBe("failed");
  });

  it("the layout: packs/XX/ID and index/ID named by their SHA-256, snapshots by their id, generation/N", async () => {
    const store = open();
    const snapshot = blob("snapshot", 10);
    await store.put([blob(), blob("tree"), snapshot]);
    await store.bumpGeneration();
    const all = await names(objects, "");
    const packs = all.filter((n) => n.startsWith("packs/"));
    expect(packs).toHaveLength(2);
    for (const name of packs)
      expect(name).toMatch(/^packs\/([0-9a-f]{2})\/\1[0-9a-f]{62}$/);
    expect(all).toContain(`snapshots/${toHex(snapshot.id)}`);
    expect(all).toContain("generation/1");
    expect(all).toContain("config");
    expect(all).toContain(`keys/${slot.name}`);
  });
});

describe("PackStore over a directory", () => {
  it("a second store with a fresh cache on the same directory sees everything", async () => {
    const dir = await tempDir("blindsync-packs-dir-");
    try {
      const open = async () => {
        const store = new PackStore(
          await DirObjectStore.open(join(dir, "repo"), { create: true }),
          {
            indexCachePath: join(
              dir,
              `cache-${randomBytes(4).toString("hex")}`,
            ),
          },
        );
        store.authenticate(authenticator);
        return store;
      };
      const first = await open();
      await first.create(new Uint8Array([7]), slot);
      const blobs = [blob(), blob("tree"), blob("snapshot")];
      await first.put(blobs);
      await first.close();
      const second = await open();
      expect(await second.missing(blobs.map((b) => b.id))).toEqual([]);
      for (const b of blobs) expect(await second.get(b.id)).toEqual(b.bytes);
      await second.close();
    } finally {
      await removeDir(dir);
    }
  });
});
