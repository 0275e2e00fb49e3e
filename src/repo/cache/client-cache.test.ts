import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ClientCache,
  readConnectionHints,
  type DirRecord,
  type FileIdentity,
} from "./client-cache.js";
import { locationDirs } from "../../../test/helpers/cache-dirs.js";

const LOCATION = "/tmp/some-repository";
const identity: FileIdentity = {
  ino: 7n,
  size: 5,
  mtimeNs: 1_000n,
  ctimeNs: 2_000n,
};
const cached = {
  content: [new Uint8Array(32).fill(1)],
  checksum: { kind: "chunk-ids" as const, digest: new Uint8Array(32).fill(2) },
};
const path = (name: string): Uint8Array =>
  new TextEncoder().encode(`/src/${name}`);

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "blindsync-cache-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("the files cache across backup runs", () => {
  /**
   * One backup run that records `read`, reuses `unchanged`, asks about `changed` with another
   * ctime, and finishes.
   */
  function run(
    read: string[],
    unchanged: string[],
    changed: string[] = [],
  ): void {
    const cache = ClientCache.open(root, LOCATION);
    try {
      cache.beginRun();
      // Many rows per statement (recordFiles), a repeated path updating its row.
      cache.recordFiles(
        [...read, ...read.slice(0, 1)].map((name) => ({
          path: path(name),
          identity,
          cached,
        })),
      );
      for (const name of unchanged)
        expect(cache.reuseFile(path(name), identity)?.content).toEqual(
          cached.content,
        );
      for (const name of changed)
        expect(
          cache.reuseFile(path(name), { ...identity, ctimeNs: 2_001n }),
        ).toBeUndefined();
      cache.finishRun();
    } finally {
      cache.close();
    }
  }

  function known(): string[] {
    const cache = ClientCache.open(root, LOCATION);
    try {
      return ["a", "b", "c"].filter((name) => cache.hasFile(path(name)));
    } finally {
      cache.close();
    }
  }

  /** How many files the cache remembers, seen or not; the kept count must say the same. */
  function rows(): number {
    const [dir] = locationDirs(root);
    const db = new Database(join(root, dir as string, "cache.sqlite"), {
      readonly: true,
    });
    try {
      const counted = db
        .prepare("SELECT count(*) FROM files")
        .pluck()
        .get() as number;
      expect(db.prepare("SELECT rows FROM file_count").pluck().get()).toBe(
        counted,
      );
      return counted;
    } finally {
      db.close();
    }
  }

  it("leaves a few rows of files no longer seen, and sweeps them once they pass the bound", () => {
    const many = Array.from({ length: 300 }, (_, i) => `many/${i}`);
    run(["a", "b", "c", ...many], []);
    expect(rows()).toBe(303);
    // One row of 303 not seen: left in place (it answers only for the identity it recorded).
    run([], ["a", "c", ...many]);
    expect(known()).toEqual(["a", "b", "c"]);
    // 301 of 303 not seen, more than 256 and more than 1/16: still kept, but the next run sweeps.
    run([], ["a", "c"]);
    expect(rows()).toBe(303);
    // The sweeping run keeps what it reads (b) or finds unchanged (c) and forgets the rest,
    // including a row asked about with another identity (a: that file was not read).
    run(["b"], ["c"], ["a"]);
    expect(known()).toEqual(["b", "c"]);
    expect(rows()).toBe(2);
    // The sweep is done: a run leaves its one stale row (c) alone again, however many files
    // it reads, and so does the next.
    run(many, ["b"], ["c"]);
    run([], ["b", ...many]);
    expect(known()).toEqual(["b", "c"]);
    expect(rows()).toBe(302);
  });

  it("answers a lookup only for the identity it recorded", () => {
    run(["a"], []);
    const cache = ClientCache.open(root, LOCATION);
    try {
      expect(cache.lookupFile(path("a"), identity)?.content).toEqual(
        cached.content,
      );
      expect(
        cache.lookupFile(path("a"), { ...identity, ctimeNs: 2_001n }),
      ).toBeUndefined();
      expect(cache.hasFile(path("a"))).toBe(true);
      expect(cache.hasFile(path("b"))).toBe(false);
    } finally {
      cache.close();
    }
  });

  it("keeps each file's checksum kind, and reads a bare 32-byte column (older versions') as a SHA-256", () => {
    const cache = ClientCache.open(root, LOCATION);
    try {
      const legacy = {
        content: cached.content,
        checksum: {
          kind: "sha256" as const,
          digest: new Uint8Array(32).fill(3),
        },
      };
      cache.recordFile(path("new"), identity, cached);
      cache.recordFile(path("old"), identity, legacy);
      expect(cache.lookupFile(path("new"), identity)?.checksum).toEqual(
        cached.checksum,
      );
      expect(cache.lookupFile(path("old"), identity)?.checksum).toEqual(
        legacy.checksum,
      );
    } finally {
      cache.close();
    }
  });

  it("asks nothing in a run that began with no file recorded, and finds its rows in the next", () => {
    const cache = ClientCache.open(root, LOCATION);
    try {
      cache.beginRun();
      cache.recordFile(path("a"), identity, cached);
      // Recorded in this run, which began empty: not looked up (the walk never asks twice).
      expect(cache.reuseFile(path("a"), identity)).toBeUndefined();
      cache.finishRun();
      cache.beginRun();
      expect(cache.reuseFile(path("a"), identity)?.content).toEqual(
        cached.content,
      );
      cache.finishRun();
    } finally {
      cache.close();
    }
  });

  it("continues the run numbers of a cache written before the last_run row existed", () => {
    run(["a", "b"], []);
    // An older cache: runs numbered up to 41 in the files table and no last_run row.
    const cache = ClientCache.open(root, LOCATION);
    cache.close();
    const [dir] = locationDirs(root);
    const db = new Database(join(root, dir as string, "cache.sqlite"));
    db.exec(
      `UPDATE files SET run = 41; DROP TABLE last_run; DROP TABLE file_count;
       DROP TRIGGER file_count_insert; DROP TRIGGER file_count_delete;`,
    );
    db.close();
    // The next run must number itself 42 or more, or finishRun would forget what it touched.
    run([], ["a"]);
    expect(known()).toEqual(["a"]);
    expect(rows()).toBe(1);
  });
});

describe("the directory cache", () => {
  const record = (fill: number): DirRecord => ({
    listing: new Uint8Array(32).fill(fill),
    subtrees: new Uint8Array(32).fill(fill + 1),
    tree: new Uint8Array(32).fill(fill + 2),
    files: fill,
    bytes: fill * 100,
  });

  /** Opens the cache, runs one backup run around `body`, and closes it. */
  function inRun(body: (cache: ClientCache) => void, finish = true): void {
    const cache = ClientCache.open(root, LOCATION);
    try {
      cache.beginRun();
      body(cache);
      if (finish) cache.finishRun();
    } finally {
      cache.close();
    }
  }

  it("gives back what a finished run recorded, and nothing of a run given up", () => {
    // A new cache's first run sweeps (see beginRun), so it answers only from the next run on.
    inRun((cache) => {
      cache.recordDir(path("d"), record(1));
      expect(cache.lookupDir(path("d"))).toBeUndefined();
    });
    inRun((cache) => {
      expect(cache.lookupDir(path("d"))).toEqual(record(1));
      expect(cache.lookupDir(path("e"))).toBeUndefined();
      cache.recordDir(path("d"), record(5));
      cache.recordDir(path("e"), record(7));
    }, false);
    inRun((cache) => {
      expect(cache.lookupDir(path("d"))).toEqual(record(1));
      expect(cache.lookupDir(path("e"))).toBeUndefined();
    });
  });

  it("is forgotten with the blobs (after a prune), and answers nothing in a sweeping run", () => {
    inRun((cache) => {
      cache.recordDir(path("d"), record(1));
      cache.recordDir(path("gone"), record(3));
    });
    // A sweeping run must see every file to know which rows to keep, so it reuses no
    // directory; it forgets the directories it did not record again.
    const [dir] = locationDirs(root);
    const db = new Database(join(root, dir as string, "cache.sqlite"));
    db.exec("INSERT INTO sweep_next_run (only) VALUES (1)");
    db.close();
    inRun((cache) => {
      expect(cache.lookupDir(path("d"))).toBeUndefined();
      cache.recordDir(path("d"), record(2));
    });
    inRun((cache) => {
      expect(cache.lookupDir(path("d"))).toEqual(record(2));
      expect(cache.lookupDir(path("gone"))).toBeUndefined();
      cache.invalidateBlobs();
      expect(cache.lookupDir(path("d"))).toBeUndefined();
    });
  });

  it("opens beside a backup run that holds the cache's write lock", () => {
    const running = ClientCache.open(root, LOCATION);
    try {
      running.beginRun();
      running.recordFile(path("a"), identity, cached);
      // A second command on the same location (restore, snapshots) must not wait for it.
      const beside = ClientCache.open(root, LOCATION);
      beside.close();
    } finally {
      running.close();
    }
  });

  it("writes no hint beside a backup run that holds the write lock, and does not wait for it", () => {
    const running = ClientCache.open(root, LOCATION);
    try {
      running.beginRun();
      running.recordFile(path("a"), identity, cached);
      // What every command does after unlocking: remember the key slot and the server's CPU.
      const beside = ClientCache.open(root, LOCATION);
      const started = Date.now();
      try {
        beside.saveKeySlotHint(new Uint8Array([1, 2, 3]));
        beside.saveServerAesHint(true);
      } finally {
        beside.close();
      }
      expect(Date.now() - started).toBeLessThan(1000);
      running.finishRun();
    } finally {
      running.close();
    }
    // Skipped, not lost for good: the next command beside no backup writes them.
    expect(readConnectionHints(root, LOCATION)).toEqual({
      keySlot: undefined,
      serverHasAes: undefined,
    });
    const later = ClientCache.open(root, LOCATION);
    later.saveKeySlotHint(new Uint8Array([1, 2, 3]));
    later.close();
    expect(readConnectionHints(root, LOCATION).keySlot).toEqual(
      new Uint8Array([1, 2, 3]),
    );
  });

  it("counts a reused directory's files as seen, so they do not look stale", () => {
    const many = Array.from({ length: 300 }, (_, i) => `many/${i}`);
    inRun((cache) => {
      for (const name of many) cache.recordFile(path(name), identity, cached);
    });
    // Without reusedDir() these 300 rows would be unseen, and the next run would sweep.
    inRun((cache) => {
      cache.reusedDir({ ...record(1), files: 300 });
    });
    inRun((cache) => {
      cache.recordDir(path("d"), record(1));
      expect(cache.lookupDir(path("d"))).toEqual(record(1));
      cache.reusedDir({ ...record(1), files: 300 });
    });
  });
});
