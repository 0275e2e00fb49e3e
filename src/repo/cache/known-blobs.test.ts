import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KnownBlobs } from "./known-blobs.js";
import { readPin, replacePin, type Pin } from "./pin.js";
import { openCacheDatabase } from "./schema.js";

const LOCATION = "/tmp/some-repository";
const id = (fill: number) => new Uint8Array(32).fill(fill);
const pin = (generation: number): Pin => ({
  repositoryId: id(1),
  keyCheckValue: id(2),
  lastSeq: 3,
  lastHeadId: id(3),
  generation,
});

let root: string;
let db: Database.Database;
let blobs: KnownBlobs;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "blindsync-known-blobs-"));
  db = openCacheDatabase(root, LOCATION);
  blobs = new KnownBlobs(db);
  blobs.add([id(7), id(8), id(7)]);
  db.prepare(
    `INSERT INTO dirs (path, listing, subtrees, tree, files, bytes, run)
     VALUES (x'01', x'00', x'00', x'00', 0, 0, 1)`,
  ).run();
});
afterEach(async () => {
  db.close();
  await rm(root, { recursive: true, force: true });
});

const dirs = () => db.prepare("SELECT count(*) FROM dirs").pluck().get();

describe("known blobs", () => {
  it("are kept while the store's prune generation is the pin's, and with no pin at all", () => {
    expect(blobs.has(id(7))).toBe(true);
    expect(blobs.has(id(9))).toBe(false);
    // No pin: this client has not seen the repository; nothing to compare with.
    blobs.syncGeneration(root, LOCATION, 4);
    expect(blobs.has(id(8))).toBe(true);
    expect(readPin(root, LOCATION)).toBeUndefined();
    replacePin(root, LOCATION, pin(4));
    blobs.syncGeneration(root, LOCATION, 4);
    expect(blobs.has(id(8))).toBe(true);
    expect(dirs()).toBe(1);
  });

  it("are forgotten with the directories that vouch for them before the pin takes a new generation", () => {
    replacePin(root, LOCATION, pin(4));
    blobs.syncGeneration(root, LOCATION, 5);
    expect(blobs.has(id(7))).toBe(false);
    expect(blobs.has(id(8))).toBe(false);
    expect(dirs()).toBe(0);
    expect(readPin(root, LOCATION)).toEqual(pin(5));
  });

  it("records every id of a batch longer than one statement's rows, repeats included", () => {
    // 200 ids: three statements of 64 rows and 8 single rows, with a repeat across them.
    const many = Array.from({ length: 200 }, (_, index) => {
      const bytes = new Uint8Array(32);
      new DataView(bytes.buffer).setUint32(
        0,
        index === 150 ? 100 : index + 100,
      );
      return bytes;
    });
    blobs.add(many);
    for (const blob of many) expect(blobs.has(blob)).toBe(true);
    expect(db.prepare("SELECT count(*) FROM blobs").pluck().get()).toBe(
      2 + 199,
    );
  });

  it("live in a cache whose statement journals stay in memory, not in temporary files", () => {
    // 2 is MEMORY: a backup's upserts and multi-row inserts each need a statement journal.
    expect(db.pragma("temp_store", { simple: true })).toBe(2);
  });
});
