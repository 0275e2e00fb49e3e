import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isBlindsyncError } from "../../errors.js";
import { ClientCache } from "./client-cache.js";
import { locationDir } from "./location.js";
import { advancePin, forward, readPin, replacePin, type Pin } from "./pin.js";

const LOCATION = "/tmp/some-repository";
const id = (fill: number) => new Uint8Array(32).fill(fill);
const pin = (lastSeq: number, head: number, generation = 0): Pin => ({
  repositoryId: id(1),
  keyCheckValue: id(2),
  lastSeq,
  lastHeadId: lastSeq === 0 ? null : id(head),
  generation,
});

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "blindsync-pin-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("forward()", () => {
  const cases: [string, Pin, Pin, Pin][] = [
    ["a newer head moves the pin", pin(5, 5), pin(6, 6), pin(6, 6)],
    ["an older head leaves it", pin(6, 6), pin(5, 5), pin(6, 6)],
    ["no head (seq 0) leaves it", pin(6, 6), pin(0, 0), pin(6, 6)],
    [
      "another head at the same height (a raced backup) is taken",
      pin(6, 6),
      pin(6, 9),
      pin(6, 9),
    ],
    [
      "the generation only grows, whatever the head does",
      pin(6, 6, 3),
      pin(7, 7, 1),
      pin(7, 7, 3),
    ],
    ["a newer generation is taken", pin(6, 6, 1), pin(5, 5, 2), pin(6, 6, 2)],
  ];
  it.each(cases)("%s", (_name, current, seen, expected) => {
    expect(forward(current, seen)).toEqual(expected);
  });
});

describe("the pin file", () => {
  it("is read without creating anything, and moves only forward", () => {
    expect(readPin(root, LOCATION)).toBeUndefined();
    expect(readdirSync(root)).toEqual([]);
    expect(advancePin(root, LOCATION, pin(5, 5))).toEqual(pin(5, 5));
    // A slow command that saw head 3 reports it after a backup pinned 5.
    expect(advancePin(root, LOCATION, pin(3, 3, 2))).toEqual(pin(5, 5, 2));
    expect(readPin(root, LOCATION)).toEqual(pin(5, 5, 2));
    replacePin(root, LOCATION, pin(0, 0));
    expect(readPin(root, LOCATION)).toEqual(pin(0, 0));
  });

  it("is read back at its last committed value after a writer was killed inside a transaction (a hot journal)", () => {
    advancePin(root, LOCATION, pin(5, 5));
    const file = join(locationDir(root, LOCATION), "pin.sqlite");
    // A writer whose dirty pages spill into the file before it dies: the journal left behind
    // is hot, and a read-only connection cannot roll it back.
    const writer = spawnSync(
      process.execPath,
      [
        "-e",
        `const Database = require("better-sqlite3");
const db = new Database(process.argv[1], { fileMustExist: true });
db.pragma("cache_size = 2");
db.exec("BEGIN IMMEDIATE");
db.prepare("UPDATE pin SET last_seq = 1").run();
db.exec("CREATE TABLE filler (data BLOB)");
const insert = db.prepare("INSERT INTO filler (data) VALUES (?)");
for (let i = 0; i < 64; i++) insert.run(Buffer.alloc(64 * 1024, 7));
process.kill(process.pid, "SIGKILL");`,
        file,
      ],
      { encoding: "utf8" },
    );
    expect(writer.signal, writer.stderr).toBe("SIGKILL");
    expect(existsSync(`${file}-journal`)).toBe(true);
    expect(readPin(root, LOCATION)).toEqual(pin(5, 5));
    expect(advancePin(root, LOCATION, pin(6, 6))).toEqual(pin(6, 6));
  });

  it("refuses to advance a pin of another repository (init ran meanwhile)", () => {
    advancePin(root, LOCATION, pin(5, 5));
    let thrown: unknown;
    try {
      advancePin(root, LOCATION, { ...pin(6, 6), repositoryId: id(7) });
    } catch (error) {
      thrown = error;
    }
    expect(isBlindsyncError(thrown, "rollback")).toBe(true);
    expect(readPin(root, LOCATION)).toEqual(pin(5, 5));
  });

  it("falls back to the pin an older version kept in the cache database, and keeps its height", () => {
    const dir = locationDir(root, LOCATION);
    const cache = ClientCache.open(root, LOCATION);
    cache.close();
    const legacy = new Database(join(dir, "cache.sqlite"));
    legacy.exec(`CREATE TABLE pin (
      only INTEGER PRIMARY KEY CHECK (only = 1), location TEXT NOT NULL,
      repository_id BLOB NOT NULL, key_check BLOB NOT NULL, last_seq INTEGER NOT NULL,
      last_head BLOB, generation INTEGER NOT NULL DEFAULT 0)`);
    legacy
      .prepare("INSERT INTO pin VALUES (1, ?, ?, ?, 9, ?, 4)")
      .run(LOCATION, id(1), id(2), id(9));
    legacy.close();
    expect(readPin(root, LOCATION)).toEqual(pin(9, 9, 4));
    // The first write here starts from the old pin: an older head seen now does not win.
    expect(advancePin(root, LOCATION, pin(7, 7))).toEqual(pin(9, 9, 4));
    expect(existsSync(join(dir, "pin.sqlite"))).toBe(true);
    expect(readPin(root, LOCATION)).toEqual(pin(9, 9, 4));
  });

  it("is created owner-only, in an owner-only directory, whatever the umask", () => {
    const previous = process.umask(0o022);
    try {
      advancePin(root, LOCATION, pin(1, 1));
      const cache = ClientCache.open(root, LOCATION);
      cache.beginRun();
      cache.addBlobs([id(3)]);
      cache.finishRun();
      const dir = locationDir(root, LOCATION);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const files = readdirSync(dir);
      expect(files).toEqual(
        expect.arrayContaining([
          "pin.sqlite",
          "cache.sqlite",
          "cache.sqlite-wal",
        ]),
      );
      for (const name of files)
        expect([name, statSync(join(dir, name)).mode & 0o777]).toEqual([
          name,
          0o600,
        ]);
      cache.close();
    } finally {
      process.umask(previous);
    }
  });
});
