import { readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HintWriter, readConnectionHints } from "./hints.js";
import { CacheRun } from "./run.js";
import { openCacheDatabase } from "./schema.js";
import { locationDirs } from "../../../test/helpers/cache-dirs.js";

const LOCATION = "/tmp/some-repository";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "blindsync-hints-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Opens the location's cache read-write, as a command does after unlocking, around `body`. */
function withWriter(body: (hints: HintWriter) => void): void {
  const db = openCacheDatabase(root, LOCATION);
  try {
    body(new HintWriter(db));
  } finally {
    db.close();
  }
}

describe("the hints read before connecting", () => {
  it("remembers what the server said about its CPU, per location, and creates nothing to read it", () => {
    expect(readConnectionHints(root, LOCATION).serverHasAes).toBeUndefined();
    expect(readdirSync(root)).toEqual([]);
    withWriter((hints) => {
      expect(readConnectionHints(root, LOCATION).serverHasAes).toBeUndefined();
      hints.saveServerAes(true);
      expect(readConnectionHints(root, LOCATION).serverHasAes).toBe(true);
      hints.saveServerAes(false);
      expect(readConnectionHints(root, LOCATION).serverHasAes).toBe(false);
    });
    expect(
      readConnectionHints(root, "/another/repository").serverHasAes,
    ).toBeUndefined();
  });

  it("reads a cache written before the hint tables existed as having no hints", () => {
    withWriter((hints) => {
      hints.saveKeySlot(new Uint8Array([1, 2, 3]));
      hints.saveServerAes(true);
    });
    expect(readConnectionHints(root, LOCATION).keySlot).toEqual(
      new Uint8Array([1, 2, 3]),
    );
    const [dir] = locationDirs(root);
    const db = new Database(join(root, dir as string, "cache.sqlite"));
    db.exec("DROP TABLE key_slot_hint; DROP TABLE server_hint;");
    db.close();
    expect(readConnectionHints(root, LOCATION).keySlot).toBeUndefined();
    expect(readConnectionHints(root, LOCATION).serverHasAes).toBeUndefined();
  });

  it("writes no hint beside a backup run that holds the write lock, and does not wait for it", () => {
    const running = openCacheDatabase(root, LOCATION);
    const run = new CacheRun(running);
    try {
      run.begin();
      // What every command does after unlocking: remember the key slot and the server's CPU.
      const started = Date.now();
      withWriter((hints) => {
        hints.saveKeySlot(new Uint8Array([1, 2, 3]));
        hints.saveServerAes(true);
      });
      expect(Date.now() - started).toBeLessThan(1000);
      run.finish();
    } finally {
      run.abort();
      running.close();
    }
    // Skipped, not lost for good: the next command beside no backup writes them.
    expect(readConnectionHints(root, LOCATION)).toEqual({
      keySlot: undefined,
      serverHasAes: undefined,
    });
    withWriter((hints) => {
      hints.saveKeySlot(new Uint8Array([1, 2, 3]));
    });
    expect(readConnectionHints(root, LOCATION).keySlot).toEqual(
      new Uint8Array([1, 2, 3]),
    );
  });
});
