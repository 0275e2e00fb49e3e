/**
 * The one conformance suite every ObjectStore runs (memory, a directory, sftp, S3). It speaks
 * only the ObjectStore interface, so a new backend adds a few lines, not a new test file.
 * Kept to a few seconds on a local directory, since it also runs over sftp and S3: objects are
 * small except where size is the point (the 16 MiB round trip, the racing reader).
 */

import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { BlindsyncError } from "../src/errors.js";
import type {
  ObjectInfo,
  ObjectStore,
} from "../src/store/objects/object-store.js";

export interface ObjectStoreUnderTest {
  readonly objects: ObjectStore;
  /** Removes what the store left behind (a temporary directory, a bucket prefix). */
  cleanup(): Promise<void>;
}

export type MakeObjectStore = () => Promise<ObjectStoreUnderTest>;

function random(length: number): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

/** `length` bytes all equal to `value`: a torn object shows as bytes of two values. */
function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

/**
 * Asserts equal bytes. vitest's toEqual walks a typed array element by element (about 30 ms
 * per thousand bytes); Buffer.equals compares at memcmp speed, which matters over megabytes.
 */
function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(actual.length, "length").toBe(expected.length);
  expect(Buffer.from(actual).equals(Buffer.from(expected)), "bytes").toBe(true);
}

async function collect(prefix: string, objects: ObjectStore) {
  const result: ObjectInfo[] = [];
  for await (const info of objects.list(prefix)) result.push(info);
  return result;
}

/** A listing as name -> size, failing on a name listed twice. */
async function listed(
  objects: ObjectStore,
  prefix: string,
): Promise<Record<string, number>> {
  const infos = await collect(prefix, objects);
  const names = infos.map((info) => info.name);
  expect(new Set(names).size, `duplicates in ${names.join(", ")}`).toBe(
    names.length,
  );
  return Object.fromEntries(infos.map((info) => [info.name, info.size]));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection, got a result");
    },
    (caught: unknown) => caught,
  );
}

async function expectKind(
  promise: Promise<unknown>,
  kind: string,
): Promise<void> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(BlindsyncError);
  expect((error as BlindsyncError).kind).toBe(kind);
  expect((error as BlindsyncError).message).not.toContain("\n");
}

async function expectRangeError(promise: Promise<unknown>): Promise<void> {
  expect(await rejection(promise)).toBeInstanceOf(RangeError);
}

/** Names refused everywhere, each for a different rule of names.ts. */
const INVALID_NAMES = [
  "",
  "..",
  "a/../b",
  ".",
  ".hidden",
  "packs/.tmp",
  "/a",
  "a/",
  "a//b",
  "a b",
  " a",
  "caf\u00e9",
  "\u0430bc", // a Cyrillic "a"
  "a\\b",
  "a".repeat(129),
  "a/b/c/d/e/f/g/h/i",
];

/** Names using every allowed character, and "-" / "_" where a segment starts. */
const EVERY_CHARACTER = [
  "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  "abcdefghijklmnopqrstuvwxyz",
  "0123456789",
  "a.b_c-d",
  "-starts-with-dash",
  "_starts_with_underscore",
  "ends.",
  "x",
  "deep/-a/_b/c.d/e-f/g_h/0/9",
  "a".repeat(128),
];

export function objectStoreConformanceSuite(
  name: string,
  make: MakeObjectStore,
): void {
  describe(`${name} conforms to the ObjectStore contract`, () => {
    const cleanups: (() => Promise<void>)[] = [];

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function open(): Promise<ObjectStore> {
      const made = await make();
      cleanups.push(async () => {
        await made.objects.close();
        await made.cleanup();
      });
      return made.objects;
    }

    describe("put and get", () => {
      it("get() returns exactly the bytes put() stored", async () => {
        const objects = await open();
        const bytes = random(1000);
        await objects.put("config", bytes);
        expectBytes(await objects.get("config"), bytes);
      });

      it("stores an empty object", async () => {
        const objects = await open();
        await objects.put("empty", new Uint8Array(0));
        expectBytes(await objects.get("empty"), new Uint8Array(0));
        expect(await objects.stat("empty")).toEqual({ name: "empty", size: 0 });
        expect(await listed(objects, "")).toEqual({ empty: 0 });
      });

      it("stores exactly the bytes of a view into a larger buffer", async () => {
        const objects = await open();
        const whole = random(100);
        await objects.put("view", whole.subarray(10, 30));
        expectBytes(await objects.get("view"), whole.slice(10, 30));
      });

      it("keeps what put() stored when the caller reuses its buffer", async () => {
        const objects = await open();
        const bytes = filled(64, 1);
        await objects.put("mine", bytes);
        bytes.fill(2);
        expectBytes(await objects.get("mine"), filled(64, 1));
      });

      it("put() over an existing name replaces the whole object", async () => {
        const objects = await open();
        await objects.put("index/a", filled(5000, 1));
        await objects.put("index/a", filled(10, 2));
        expectBytes(await objects.get("index/a"), filled(10, 2));
        expect(await objects.stat("index/a")).toEqual({
          name: "index/a",
          size: 10,
        });
        await objects.put("index/a", filled(20_000, 3));
        expectBytes(await objects.get("index/a"), filled(20_000, 3));
        expect(await listed(objects, "")).toEqual({ "index/a": 20_000 });
      });

      it("get() of a missing object throws not-found, with or without a range", async () => {
        const objects = await open();
        await expectKind(objects.get("nothing"), "not-found");
        await expectKind(objects.get("packs/ab/nothing"), "not-found");
        await expectKind(
          objects.get("nothing", { offset: 0, length: 0 }),
          "not-found",
        );
      });

      it("stores objects in nested folders, each apart from its neighbours", async () => {
        const objects = await open();
        const a = random(300);
        const b = random(301);
        const c = random(302);
        await objects.put("packs/ab/abcdef", a);
        await objects.put("packs/ab/abcdee", b);
        await objects.put("packs/cd/cdef01", c);
        expectBytes(await objects.get("packs/ab/abcdef"), a);
        expectBytes(await objects.get("packs/ab/abcdee"), b);
        expectBytes(await objects.get("packs/cd/cdef01"), c);
        await expectKind(objects.get("packs/ab"), "not-found");
      });

      it("round-trips a 16 MiB object of random bytes, and reads a range near its end", async () => {
        const objects = await open();
        const size = 16 * 1024 * 1024;
        const bytes = random(size);
        await objects.put("packs/ff/large", bytes);
        expect(await objects.stat("packs/ff/large")).toEqual({
          name: "packs/ff/large",
          size,
        });
        expectBytes(await objects.get("packs/ff/large"), bytes);
        const tail = { offset: size - 4096 - 17, length: 4096 };
        expectBytes(
          await objects.get("packs/ff/large", tail),
          bytes.slice(tail.offset, tail.offset + tail.length),
        );
      });
    });

    describe("ranged get", () => {
      const bytes = random(1000);

      async function stored(): Promise<ObjectStore> {
        const objects = await open();
        await objects.put("packs/00/p", bytes);
        return objects;
      }

      it("reads ranges at the start, the middle and the end", async () => {
        const objects = await stored();
        for (const [offset, length] of [
          [0, 10],
          [0, 1000],
          [400, 123],
          [990, 10],
          [999, 1],
        ] as const)
          expectBytes(
            await objects.get("packs/00/p", { offset, length }),
            bytes.slice(offset, offset + length),
          );
      });

      it("reads zero-length ranges, including one at the very end", async () => {
        const objects = await stored();
        for (const offset of [0, 500, 1000])
          expectBytes(
            await objects.get("packs/00/p", { offset, length: 0 }),
            new Uint8Array(0),
          );
      });

      it("throws integrity for a range past the end (damage, not a missing object)", async () => {
        const objects = await stored();
        await expectKind(
          objects.get("packs/00/p", { offset: 990, length: 11 }),
          "integrity",
        );
        await expectKind(
          objects.get("packs/00/p", { offset: 0, length: 1001 }),
          "integrity",
        );
        await expectKind(
          objects.get("packs/00/p", { offset: 1001, length: 0 }),
          "integrity",
        );
        await expectKind(
          objects.get("packs/00/p", { offset: 5000, length: 10 }),
          "integrity",
        );
      });

      it("throws RangeError for negative or fractional ranges", async () => {
        const objects = await stored();
        for (const range of [
          { offset: -1, length: 10 },
          { offset: 0, length: -1 },
          { offset: 1.5, length: 2 },
          { offset: 0, length: Number.NaN },
        ])
          await expectRangeError(objects.get("packs/00/p", range));
      });
    });

    describe("stat and delete", () => {
      it("stat() reports a present object's size and undefined for an absent one", async () => {
        const objects = await open();
        await objects.put("keys/k1", random(77));
        expect(await objects.stat("keys/k1")).toEqual({
          name: "keys/k1",
          size: 77,
        });
        expect(await objects.stat("keys/k2")).toBeUndefined();
        expect(await objects.stat("nowhere/k1")).toBeUndefined();
        expect(await objects.stat("keys")).toBeUndefined();
      });

      it("delete() removes the object and ignores a missing one", async () => {
        const objects = await open();
        await objects.put("locks/l1", random(10));
        await objects.put("locks/l2", random(11));
        await objects.delete("locks/l1");
        expect(await objects.stat("locks/l1")).toBeUndefined();
        await expectKind(objects.get("locks/l1"), "not-found");
        expect(await listed(objects, "")).toEqual({ "locks/l2": 11 });
        await objects.delete("locks/l1");
        await objects.delete("never/was");
        await objects.delete("locks/l2");
        expect(await listed(objects, "")).toEqual({});
      });

      it("a deleted name can be written again", async () => {
        const objects = await open();
        await objects.put("snapshots/s", filled(3, 1));
        await objects.delete("snapshots/s");
        await objects.put("snapshots/s", filled(4, 2));
        expectBytes(await objects.get("snapshots/s"), filled(4, 2));
      });
    });

    describe("list", () => {
      async function populated(): Promise<ObjectStore> {
        const objects = await open();
        await objects.put("config", random(1));
        await objects.put("index/a", random(2));
        await objects.put("index/sub/b", random(3));
        await objects.put("indexes/c", random(4));
        await objects.put("indigo", random(5));
        await objects.put("packs/ab/ab01", random(6));
        await objects.put("packs/ab/ab02", random(0));
        await objects.put("packs/ac/ac01", random(8));
        return objects;
      }

      it("an empty store lists nothing", async () => {
        const objects = await open();
        expect(await listed(objects, "")).toEqual({});
        expect(await listed(objects, "index/")).toEqual({});
      });

      it('"" lists every object once with its size', async () => {
        const objects = await populated();
        expect(await listed(objects, "")).toEqual({
          config: 1,
          "index/a": 2,
          "index/sub/b": 3,
          "indexes/c": 4,
          indigo: 5,
          "packs/ab/ab01": 6,
          "packs/ab/ab02": 0,
          "packs/ac/ac01": 8,
        });
      });

      it("a folder prefix lists everything below it, nested folders included", async () => {
        const objects = await populated();
        expect(await listed(objects, "index/")).toEqual({
          "index/a": 2,
          "index/sub/b": 3,
        });
        expect(await listed(objects, "packs/")).toEqual({
          "packs/ab/ab01": 6,
          "packs/ab/ab02": 0,
          "packs/ac/ac01": 8,
        });
        expect(await listed(objects, "packs/ab/")).toEqual({
          "packs/ab/ab01": 6,
          "packs/ab/ab02": 0,
        });
      });

      it("a prefix is a string prefix, as in S3, not a folder", async () => {
        const objects = await populated();
        expect(await listed(objects, "ind")).toEqual({
          "index/a": 2,
          "index/sub/b": 3,
          "indexes/c": 4,
          indigo: 5,
        });
        expect(await listed(objects, "index")).toEqual({
          "index/a": 2,
          "index/sub/b": 3,
          "indexes/c": 4,
        });
        expect(await listed(objects, "packs/a")).toEqual({
          "packs/ab/ab01": 6,
          "packs/ab/ab02": 0,
          "packs/ac/ac01": 8,
        });
        expect(await listed(objects, "packs/ab/ab0")).toEqual({
          "packs/ab/ab01": 6,
          "packs/ab/ab02": 0,
        });
        expect(await listed(objects, "index/s")).toEqual({
          "index/sub/b": 3,
        });
        expect(await listed(objects, "config")).toEqual({ config: 1 });
      });

      it("a prefix that matches nothing lists nothing", async () => {
        const objects = await populated();
        for (const prefix of [
          "snapshots/",
          "z",
          "packs/ff/",
          "packs/ab/ab03",
          "config/",
          "index/a/",
          "indigo/",
        ])
          expect(await listed(objects, prefix), prefix).toEqual({});
      });

      it("refuses a prefix that no name could start with", async () => {
        const objects = await open();
        for (const prefix of ["/", "..", ".hidden", "a//", "a b"])
          await expectRangeError(collect(prefix, objects));
      });
    });

    describe("names", () => {
      it("refuses invalid names with RangeError before writing anything", async () => {
        const objects = await open();
        for (const invalid of INVALID_NAMES) {
          await expectRangeError(objects.put(invalid, random(3)));
          await expectRangeError(objects.get(invalid));
          await expectRangeError(objects.stat(invalid));
          await expectRangeError(objects.delete(invalid));
        }
        expect(await listed(objects, "")).toEqual({});
      });

      it("stores names using every allowed character", async () => {
        const objects = await open();
        const contents = new Map(
          EVERY_CHARACTER.map((name) => [name, random(name.length)]),
        );
        for (const [name, bytes] of contents) await objects.put(name, bytes);
        for (const [name, bytes] of contents) {
          expectBytes(await objects.get(name), bytes);
          expect(await objects.stat(name)).toEqual({
            name,
            size: bytes.length,
          });
        }
        expect(await listed(objects, "")).toEqual(
          Object.fromEntries(
            EVERY_CHARACTER.map((name) => [name, name.length]),
          ),
        );
      });

      it("tells names apart by case", async () => {
        const objects = await open();
        await objects.put("keys/Abc", filled(1, 1));
        await objects.put("keys/abc", filled(2, 2));
        expectBytes(await objects.get("keys/Abc"), filled(1, 1));
        expectBytes(await objects.get("keys/abc"), filled(2, 2));
      });
    });

    describe("concurrency", () => {
      it("20 puts of different names at once all land, new folders included", async () => {
        const objects = await open();
        const contents = new Map(
          Array.from({ length: 20 }, (_, i) => [
            `packs/${(i % 4).toString(16).padStart(2, "0")}/p${i}`,
            random(100 + i),
          ]),
        );
        await Promise.all(
          [...contents].map(([name, bytes]) => objects.put(name, bytes)),
        );
        for (const [name, bytes] of contents)
          expectBytes(await objects.get(name), bytes);
        expect(Object.keys(await listed(objects, "packs/")).sort()).toEqual(
          [...contents.keys()].sort(),
        );
      });

      it("10 puts of one name at once leave exactly one of them, never a mix", async () => {
        const objects = await open();
        const versions = Array.from({ length: 10 }, (_, i) =>
          filled(1000 + i * 20_011, i + 1),
        );
        await Promise.all(
          versions.map((bytes) => objects.put("index/x", bytes)),
        );
        const result = await objects.get("index/x");
        const winner = versions.findIndex((bytes) =>
          Buffer.from(bytes).equals(Buffer.from(result)),
        );
        expect(
          winner,
          `a mix of ${result.length} bytes`,
        ).toBeGreaterThanOrEqual(0);
        const size = versions[winner]?.length;
        expect(await objects.stat("index/x")).toEqual({
          name: "index/x",
          size,
        });
        expect(await listed(objects, "")).toEqual({ "index/x": size });
      });

      it("a reader racing a writer sees the old object or the new one, never a part", async () => {
        const objects = await open();
        // Large and of different sizes, so an object written in place shows torn bytes or a
        // short length to a reader that lands mid-write.
        const versions = [filled(1_048_576, 0xaa), filled(3_145_728 + 5, 0xbb)];
        const sizes = versions.map((bytes) => bytes.length);
        await objects.put("packs/aa/race", versions[0] as Uint8Array);
        let writing = true;
        const writer = (async () => {
          try {
            for (let i = 1; i <= 6; i++)
              await objects.put("packs/aa/race", versions[i % 2] as Uint8Array);
          } finally {
            writing = false;
          }
        })();
        const seen: number[] = [];
        const reader = async () => {
          while (writing) {
            const bytes = await objects.get("packs/aa/race");
            const whole = versions.some((version) =>
              Buffer.from(version).equals(Buffer.from(bytes)),
            );
            expect(whole, `torn read of ${bytes.length} bytes`).toBe(true);
            seen.push(bytes.length);
          }
        };
        const lister = async () => {
          while (writing) {
            const entries = await listed(objects, "packs/");
            expect(Object.keys(entries)).toEqual(["packs/aa/race"]);
            expect(sizes).toContain(entries["packs/aa/race"]);
            const info = await objects.stat("packs/aa/race");
            expect(sizes).toContain(info?.size);
          }
        };
        await Promise.all([writer, reader(), reader(), lister()]);
        expect(seen.length).toBeGreaterThan(0);
        expectBytes(
          await objects.get("packs/aa/race"),
          versions[0] as Uint8Array,
        );
      });
    });

    describe("close", () => {
      it("close() is idempotent", async () => {
        const objects = await open();
        await objects.put("config", random(4));
        await objects.close();
        await objects.close();
      });
    });
  });
}
