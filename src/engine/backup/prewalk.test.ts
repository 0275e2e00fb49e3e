import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ClientCache, Repository, type Snapshot } from "../../repo/index.js";
import { SqliteStore, type Store } from "../../store/index.js";
import { findEntry, streamFile } from "../browse.js";
import { backup } from "./archiver.js";
import { Prewalk } from "./prewalk.js";

const PASSWORD = new TextEncoder().encode("prewalk test passphrase");
const quiet = { progress: () => undefined, warn: () => undefined };

let work: string;
let source: string;

beforeEach(async () => {
  work = await fsp.mkdtemp(join(tmpdir(), "blindsync-prewalk-"));
  source = join(work, "source");
  for (const dir of ["a/x", "b", "skip/deep", "ign/hidden", "ign/kept"])
    await fsp.mkdir(join(source, dir), { recursive: true });
  await fsp.writeFile(join(source, "ign", ".blindsyncignore"), "hidden\n");
  for (const [index, dir] of [
    "",
    "a",
    "a/x",
    "b",
    "skip",
    "ign/kept",
  ].entries())
    await fsp.writeFile(join(source, dir, `f${index}`), `file ${index}\n`);
});

afterEach(async () => {
  await fsp.rm(work, { recursive: true, force: true });
});

const at = (relative: string): Buffer =>
  Buffer.from(relative === "" ? source : join(source, relative));

describe("Prewalk", () => {
  it("lists each directory the walk will enter, once, and none it excludes", async () => {
    const prewalk = Prewalk.start([source], ["skip"]);
    await prewalk.settled;
    for (const dir of ["", "a", "a/x", "b", "ign", "ign/kept"])
      expect(prewalk.take(at(dir)), dir).toHaveProperty("ends");
    for (const dir of ["", "a"])
      expect(prewalk.take(at(dir)), dir).toBeUndefined();
    // Excluded by --exclude, and by the .blindsyncignore in ign/.
    expect(prewalk.take(at("skip"))).toBeUndefined();
    expect(prewalk.take(at("ign/hidden"))).toBeUndefined();
  });

  it("stops at its bound on entries", async () => {
    const prewalk = Prewalk.start([source], [], 4);
    await prewalk.settled;
    // The root alone has four entries (a, b, skip, ign, f0: five): nothing below it is listed.
    expect(prewalk.take(at(""))).toHaveProperty("ends");
    expect(prewalk.take(at("a"))).toBeUndefined();
  });

  it("records a directory it cannot list, for the archiver to report", async () => {
    const prewalk = Prewalk.start([join(source, "a"), join(work, "gone")], []);
    await prewalk.settled;
    expect(prewalk.take(at("a/x"))).toHaveProperty("ends");
    const gone = prewalk.take(Buffer.from(join(work, "gone")));
    expect((gone as { error: NodeJS.ErrnoException }).error.code).toBe(
      "ENOENT",
    );
  });

  it("with scan, counts the files and bytes the walk keeps, past its bound and after stop()", async () => {
    // f0..f5 of 7 bytes each but f4 (in skip/), and ign/.blindsyncignore ("hidden\n").
    const prewalk = Prewalk.start([source], ["skip"], 4, { scan: true });
    expect(prewalk.totals).toEqual({ files: 0, bytes: 0, complete: false });
    prewalk.stop();
    await prewalk.scanned;
    expect(prewalk.totals).toEqual({ files: 6, bytes: 42, complete: true });
    // It kept no listing after stop(), counting only.
    expect(prewalk.take(at(""))).toBeUndefined();
    const unscanned = Prewalk.start([source], []);
    await unscanned.settled;
    expect(unscanned.totals).toBeUndefined();
  });

  it("a cleared scan is not complete, and a file source counts as itself", async () => {
    const cleared = Prewalk.start([source], [], undefined, { scan: true });
    cleared.clear();
    await cleared.scanned;
    expect(cleared.totals?.complete).toBe(false);
    const file = Prewalk.start([join(source, "f0")], [], undefined, {
      scan: true,
    });
    await file.scanned;
    expect(file.totals).toEqual({ files: 1, bytes: 7, complete: true });
  });

  it("stop() ends it before it starts, and clear() lets every listing go", async () => {
    const stopped = Prewalk.start([source], []);
    stopped.stop();
    await stopped.settled;
    expect(stopped.take(at(""))).toBeUndefined();
    const cleared = Prewalk.start([source], []);
    await cleared.settled;
    cleared.clear();
    expect(cleared.take(at("b"))).toBeUndefined();
  });
});

describe("a backup that starts from the prewalk's listings", () => {
  let store: Store;
  let repo: Repository;
  beforeEach(async () => {
    store = await SqliteStore.open(join(work, "repo"), { create: true });
    repo = await Repository.create(store, PASSWORD, {
      scrypt: { logN: 15, r: 8, p: 1 },
    });
  });
  afterEach(async () => {
    await store.close();
  });

  async function backUp(
    cacheName: string,
    prewalk?: Prewalk,
  ): Promise<Snapshot> {
    const cache = ClientCache.open(join(work, cacheName), "prewalk-test");
    try {
      const result = await backup({
        repo,
        cache,
        head: undefined,
        sources: [source],
        excludes: ["skip"],
        sink: quiet,
        ...(prewalk === undefined ? {} : { prewalk }),
      });
      if (result.snapshot === undefined) throw new Error("no snapshot");
      return result.snapshot;
    } finally {
      cache.close();
    }
  }

  async function contentOf(snapshot: Snapshot, path: string): Promise<string> {
    const { entry } = await findEntry(repo, snapshot.tree, path);
    if (entry === undefined) throw new Error(`${path} is not in the snapshot`);
    const parts: Buffer[] = [];
    await streamFile(repo, entry, (part) => {
      parts.push(Buffer.from(part));
      return Promise.resolve();
    });
    return Buffer.concat(parts).toString();
  }

  it("stores the same root tree as a walk without it", async () => {
    const without = await backUp("cache-1");
    const prewalk = Prewalk.start([source], ["skip"]);
    await prewalk.settled;
    const withPrewalk = await backUp("cache-2", prewalk);
    expect(Buffer.from(withPrewalk.tree)).toEqual(Buffer.from(without.tree));
  });

  it("a scan's totals are the files and bytes the backup then stores", async () => {
    await fsp.writeFile(join(source, "b", "big"), Buffer.alloc(100_000, 1));
    const prewalk = Prewalk.start([source], ["skip"], undefined, {
      scan: true,
    });
    await prewalk.scanned;
    const snapshot = await backUp("cache", prewalk);
    expect(prewalk.totals).toEqual({
      files: snapshot.stats.files,
      bytes: snapshot.stats.bytes,
      complete: true,
    });
  });

  it("a file changed after the prewalk listed it is stored as read, and read again next time", async () => {
    const prewalk = Prewalk.start([source], ["skip"]);
    await prewalk.settled;
    const changed = "changed after the listing, and longer\n";
    await fsp.writeFile(join(source, "a", "f1"), changed);
    const first = await backUp("cache", prewalk);
    expect(await contentOf(first, "a/f1")).toBe(changed);
    // Same length, new content: only a new mtime and ctime tell; the cache must not hide it.
    await fsp.writeFile(join(source, "a", "f1"), changed.toUpperCase());
    const second = await backUp("cache");
    expect(await contentOf(second, "a/f1")).toBe(changed.toUpperCase());
  });
});
