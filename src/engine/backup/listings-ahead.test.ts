import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { native } from "../../util/native.js";
import { readPackedListing, type PackedListing } from "./listing.js";
import {
  ListingsAhead,
  nativeListingsAhead,
  WINDOW,
} from "./listings-ahead.js";

const listAhead = native?.listDirectoryAhead;

describe.skipIf(listAhead === undefined)(
  "listings made ahead of the walk",
  () => {
    let root: string;
    /** Every path the pool was asked to list, in order. */
    let asked: string[];
    let ahead: ListingsAhead;
    const dirs = (prefix: string, count: number): Buffer[] =>
      Array.from({ length: count }, (_, index) =>
        Buffer.from(join(root, `${prefix}${String(index).padStart(2, "0")}`)),
      );

    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), "blindsync-ahead-"));
      for (const dir of [...dirs("a", 20), ...dirs("b", 3)]) {
        mkdirSync(dir);
        writeFileSync(join(dir.toString(), "file"), dir.toString());
        mkdirSync(join(dir.toString(), "sub"));
      }
      asked = [];
      ahead = new ListingsAhead((path) => {
        asked.push(path.toString());
        return (listAhead as NonNullable<typeof listAhead>)(path);
      });
    });
    afterEach(() => {
      rmSync(root, { recursive: true, force: true });
    });

    it("gives the same listing as the walk's own, names and stats", async () => {
      const [first] = dirs("a", 1) as [Buffer];
      ahead.expect([first]);
      const listing = (await ahead.take(first)) as PackedListing;
      const own = readPackedListing(first);
      expect(Buffer.compare(listing.names, own.names)).toBe(0);
      expect([...listing.ends]).toEqual([...own.ends]);
      expect([...listing.stats]).toEqual([...own.stats]);
      expect([...listing.errors]).toEqual([...own.errors]);
      expect(listing.ends.length).toBe(2);
    });

    it("lists at most WINDOW directories ahead, and one more for each taken", async () => {
      const group = dirs("a", 20);
      ahead.expect(group);
      expect(asked).toEqual(group.slice(0, WINDOW).map(String));
      expect(ahead.inFlight).toBe(WINDOW);
      await ahead.take(group[0] as Buffer);
      expect(asked).toEqual(group.slice(0, WINDOW + 1).map(String));
      expect(ahead.inFlight).toBe(WINDOW);
    });

    it("lists the newest group first, as the walk goes depth first", async () => {
      const outer = dirs("a", 20);
      const inner = dirs("b", 3);
      ahead.expect(outer);
      await ahead.take(outer[0] as Buffer);
      await ahead.take(outer[1] as Buffer);
      ahead.expect(inner);
      await ahead.take(outer[2] as Buffer);
      // Two slots freed by the first takes went to a08 and a09; the inner group comes next.
      expect(asked.slice(WINDOW, WINDOW + 3)).toEqual(
        [outer[8], outer[9], inner[0]].map(String),
      );
      for (const dir of inner) await ahead.take(dir);
      expect(asked.slice(WINDOW + 2, WINDOW + 5)).toEqual(inner.map(String));
      expect(asked[WINDOW + 5]).toBe(String(outer[10]));
    });

    it("never lists a directory the walk reached before its turn, nor one left behind", async () => {
      const group = dirs("a", 20);
      ahead.expect(group);
      const late = group[15] as Buffer;
      expect(ahead.take(late)).toBeUndefined();
      ahead.finished(group.slice(0, 4));
      expect(ahead.inFlight).toBe(WINDOW);
      for (const dir of group.slice(4, 15)) await ahead.take(dir);
      await Promise.all(group.slice(16).map((dir) => ahead.take(dir)));
      expect(asked).not.toContain(String(late));
      expect(asked.length).toBe(19);
      ahead.finished(group);
      expect(ahead.inFlight).toBe(0);
    });

    it("answers null for a directory gone before its turn, for the walk to list and report", async () => {
      const gone = Buffer.from(join(root, "gone"));
      ahead.expect([gone]);
      await expect(ahead.take(gone)).resolves.toBeNull();
      expect(() => readPackedListing(gone)).toThrow(/ENOENT/);
    });

    it("is made from the native addon when it has the call", () => {
      expect(nativeListingsAhead()).toBeInstanceOf(ListingsAhead);
    });
  },
);
