/**
 * A files cache written by a version before the checksum over chunk ids holds each file's
 * SHA-256. A backup that finds such a row unchanged must record the kind backups write now,
 * computed from the row's chunk ids without reading the file: the same tree a backup with a
 * current cache makes.
 */
import { createHash } from "node:crypto";
import { promises as fsp, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, expect, it } from "vitest";
import { ClientCache, Repository, headOf } from "../../repo/index.js";
import { SqliteStore, type Store } from "../../store/index.js";
import { toHex } from "../../util/bytes.js";
import { backup } from "./archiver.js";

const PASSWORD = new TextEncoder().encode("checksum upgrade test passphrase");
const FAST_KDF = { scrypt: { logN: 15, r: 8, p: 1 } };

let work: string;
let source: string;
let store: Store;
let repo: Repository;

beforeEach(async () => {
  work = await fsp.mkdtemp(join(tmpdir(), "blindsync-checksum-upgrade-"));
  source = join(work, "source");
  await fsp.mkdir(join(source, "sub"), { recursive: true });
  await fsp.writeFile(join(source, "a.txt"), "alpha\n");
  await fsp.writeFile(join(source, "sub", "b.bin"), Buffer.alloc(5000, 7));
  await fsp.writeFile(join(source, "empty"), "");
  store = await SqliteStore.open(join(work, "repo"), { create: true });
  repo = await Repository.create(store, PASSWORD, FAST_KDF);
});

afterEach(async () => {
  await store.close();
  await fsp.rm(work, { recursive: true, force: true });
});

async function backupWith(cache: ClientCache) {
  const result = await backup({
    repo,
    cache,
    head: headOf(await repo.listSnapshots()),
    sources: [source],
    sink: { progress: () => undefined, warn: () => undefined },
  });
  if (result.snapshot === undefined) throw new Error("no snapshot");
  return result;
}

it("a files-cache row holding a SHA-256 gives the checksum over its chunk ids, without a read", async () => {
  const cacheRoot = join(work, "cache");
  const cache = ClientCache.open(cacheRoot, "upgrade");
  try {
    const first = await backupWith(cache);
    // What an older version left: each row's SHA-256 of the file, and no directory records
    // (their listing digest changed with the tree format, so none would match anyway).
    const [dir] = readdirSync(cacheRoot);
    const db = new Database(join(cacheRoot, dir as string, "cache.sqlite"));
    try {
      const rows = db.prepare("SELECT path FROM files").all() as {
        path: Buffer;
      }[];
      expect(rows).toHaveLength(3);
      for (const { path } of rows)
        db.prepare("UPDATE files SET sha256 = ? WHERE path = ?").run(
          createHash("sha256").update(readFileSync(path)).digest(),
          path,
        );
      db.prepare("DELETE FROM dirs").run();
    } finally {
      db.close();
    }
    const kinds: string[] = [];
    const reuseFile = cache.reuseFile.bind(cache);
    cache.reuseFile = (path, identity) => {
      const found = reuseFile(path, identity);
      if (found !== undefined) kinds.push(found.checksum.kind);
      return found;
    };
    const second = await backupWith(cache);
    expect(kinds).toEqual(["sha256", "sha256", "sha256"]);
    expect(second.filesNew + second.filesChanged).toBe(0);
    expect(toHex(second.snapshot!.tree)).toBe(toHex(first.snapshot!.tree));
  } finally {
    cache.close();
  }
});
