/*
 * The directory backend's own tests, beyond the shared object-store suite: what only a real
 * folder shows (modes, temporaries, a writer killed mid-put, symlinks, FIFOs and folders in the
 * way, a copy made with cp -a, putParts past one writev). Over 400 lines with one job: each
 * case needs its own files on disk.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../../test/helpers/cli.js";
import { objectStoreConformanceSuite } from "../../../test/object-store-suite.js";
import { BlindsyncError } from "../../errors.js";
import { DirObjectStore } from "./dir-object-store.js";
import type { ObjectInfo, ObjectStore } from "./object-store.js";

objectStoreConformanceSuite("DirObjectStore", async () => {
  const dir = await mkdtemp(join(tmpdir(), "blindsync-dir-objects-"));
  return {
    objects: await DirObjectStore.open(join(dir, "packs"), { create: true }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

async function rejection(promise: Promise<unknown>): Promise<BlindsyncError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BlindsyncError);
  expect((error as BlindsyncError).message).not.toContain("\n");
  return error as BlindsyncError;
}

async function listAll(objects: ObjectStore, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const info of objects.list(prefix)) names.push(info.name);
  return names.sort();
}

async function infos(objects: ObjectStore): Promise<ObjectInfo[]> {
  const result: ObjectInfo[] = [];
  for await (const info of objects.list("")) result.push(info);
  return result.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * A writer in its own process putting two versions of one object in turn until it is killed
 * (through the built module in dist/, as the CLI runs it). Resolves once it has made `puts`.
 */
async function killWriterAfter(root: string, puts: number): Promise<void> {
  const module = pathToFileURL(
    join(PROJECT_ROOT, "dist/store/objects/dir-object-store.js"),
  ).href;
  const script = `
    const { DirObjectStore } = await import(${JSON.stringify(module)});
    const store = await DirObjectStore.open(${JSON.stringify(root)}, { create: false });
    const versions = [new Uint8Array(${CRASH_SIZES[0]}).fill(0xaa), new Uint8Array(${CRASH_SIZES[1]}).fill(0xbb)];
    for (let i = 1; ; i++) {
      await store.put("packs/aa/crash", versions[i % 2]);
      process.stdout.write(".");
    }`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  let made = 0;
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      made += chunk.length;
      if (made >= puts) resolve();
    });
    child.once("exit", (code) => {
      reject(
        new Error(`the writer exited (${String(code)}) before it was killed`),
      );
    });
  });
  // Somewhere inside the next put: its write, its fsync, its rename.
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 40));
  child.kill("SIGKILL");
  await exited;
}

const CRASH_SIZES = [4 * 1024 * 1024, 6 * 1024 * 1024 + 3];

function modeOf(path: string): Promise<number> {
  return stat(path).then((stats) => stats.mode & 0o777);
}

describe("DirObjectStore on disk", () => {
  const dirs: string[] = [];
  const stores: ObjectStore[] = [];

  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const dir of dirs.splice(0))
      await rm(dir, { recursive: true, force: true });
  });

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "blindsync-dir-objects-"));
    dirs.push(dir);
    return dir;
  }

  async function opened(root: string, create = true): Promise<DirObjectStore> {
    const store = await DirObjectStore.open(root, { create });
    stores.push(store);
    return store;
  }

  describe("open", () => {
    it("a missing root without create is no-repository naming the path, and nothing is made", async () => {
      const root = join(await tempDir(), "absent");
      const error = await rejection(
        DirObjectStore.open(root, { create: false }),
      );
      expect(error.kind).toBe("no-repository");
      expect(error.message).toContain(root);
      await expect(stat(root)).rejects.toThrow(/ENOENT/);
    });

    it("a root that is a file is no-repository", async () => {
      const root = join(await tempDir(), "file");
      await writeFile(root, "not a directory");
      const error = await rejection(
        DirObjectStore.open(root, { create: false }),
      );
      expect(error.kind).toBe("no-repository");
      expect(error.message).toContain(root);
    });

    it("create makes the root and its missing parents 0700, and where names it", async () => {
      const base = await tempDir();
      const root = join(base, "a", "b");
      const previous = process.umask(0o022);
      try {
        const store = await opened(root);
        expect(store.where).toBe(root);
      } finally {
        process.umask(previous);
      }
      expect(await modeOf(join(base, "a"))).toBe(0o700);
      expect(await modeOf(root)).toBe(0o700);
    });

    it("opens an existing root without create and keeps its objects", async () => {
      const root = join(await tempDir(), "packs");
      const first = await opened(root);
      await first.put("config", new Uint8Array([1, 2, 3]));
      await first.close();
      const again = await opened(root, false);
      expect(await again.get("config")).toEqual(new Uint8Array([1, 2, 3]));
    });
  });

  describe("files on disk", () => {
    it("objects are files at their names, 0600 in folders 0700, whatever the umask", async () => {
      const root = join(await tempDir(), "packs");
      // A umask that takes the owner's own bits away: the modes are set, not left to it.
      const previous = process.umask(0o277);
      try {
        const store = await opened(root);
        await store.put("packs/ab/abcd", new Uint8Array([7, 8, 9]));
        await store.put("config", new Uint8Array([1]));
      } finally {
        process.umask(previous);
      }
      expect(await readFile(join(root, "packs", "ab", "abcd"))).toEqual(
        Buffer.from([7, 8, 9]),
      );
      expect(await modeOf(root)).toBe(0o700);
      expect(await modeOf(join(root, "packs"))).toBe(0o700);
      expect(await modeOf(join(root, "packs", "ab"))).toBe(0o700);
      expect(await modeOf(join(root, "packs", "ab", "abcd"))).toBe(0o600);
      expect(await modeOf(join(root, "config"))).toBe(0o600);
    });

    it("putParts writes the parts joined, past one writev's 1024 buffers, empty parts skipped", async () => {
      const root = join(await tempDir(), "packs");
      const store = await opened(root);
      // 3,000 parts of 0-99 bytes (a pack of many small blobs), every 7th one empty.
      const parts = Array.from({ length: 3000 }, (_, i) =>
        i % 7 === 0 ? new Uint8Array(0) : randomBytes(i % 100),
      );
      await store.putParts("packs/ab/abparts", parts);
      expect(await readFile(join(root, "packs", "ab", "abparts"))).toEqual(
        Buffer.concat(parts),
      );
      expect(
        await store.get("packs/ab/abparts", { offset: 5, length: 40 }),
      ).toEqual(new Uint8Array(Buffer.concat(parts).subarray(5, 45)));
    });

    it("leaves no temporary file behind after a put", async () => {
      const root = join(await tempDir(), "packs");
      const store = await opened(root);
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          store.put("index/same", new Uint8Array(100 * i)),
        ),
      );
      expect(await readdir(join(root, "index"))).toEqual(["same"]);
    });

    it("sweepTemporaries removes the temporaries of dead writers only: old ones, put's own names, no link followed", async () => {
      const root = join(await tempDir(), "packs");
      const outside = await tempDir();
      const store = await opened(root);
      await store.put("packs/ab/abcd", new Uint8Array([1]));
      const hourAgo = (Date.now() - 2 * 60 * 60 * 1000) / 1000;
      const plant = async (path: string, old: boolean): Promise<void> => {
        await writeFile(path, "half");
        if (old) await utimes(path, hourAgo, hourAgo);
      };
      const dead = join(root, "packs", "ab", ".abcd.0123456789ab.tmp");
      const live = join(root, "index", ".seg.abcdef012345.tmp");
      const hidden = join(root, "packs", ".not-a-temporary");
      const far = join(outside, ".x.0123456789ab.tmp");
      await mkdir(join(root, "index"));
      await plant(dead, true);
      await plant(live, false);
      await plant(hidden, true);
      await plant(far, true);
      await symlink(outside, join(root, "packs", "cd"));
      expect(await store.sweepTemporaries(60 * 60 * 1000)).toBe(1);
      await expect(stat(dead)).rejects.toThrow(/ENOENT/);
      for (const kept of [live, hidden, far]) await stat(kept);
      expect(await store.get("packs/ab/abcd")).toEqual(new Uint8Array([1]));
    });

    it("a crashed writer's temporary file is never listed and does not break a later put", async () => {
      const root = join(await tempDir(), "packs");
      const store = await opened(root);
      await store.put("packs/ab/ab01", new Uint8Array([1, 1]));
      // What a writer killed between its write and its rename leaves: a dot-file in the folder.
      const leftover = join(root, "packs", "ab", ".ab01.0123456789ab.tmp");
      await writeFile(leftover, randomBytes(1000));
      await writeFile(join(root, ".hidden"), "a user's dot-file");
      expect(await infos(store)).toEqual([{ name: "packs/ab/ab01", size: 2 }]);
      await store.put("packs/ab/ab01", new Uint8Array([2, 2, 2]));
      expect(await store.get("packs/ab/ab01")).toEqual(
        new Uint8Array([2, 2, 2]),
      );
      expect(await infos(store)).toEqual([{ name: "packs/ab/ab01", size: 3 }]);
      expect(await readFile(leftover)).toHaveLength(1000);
    });

    it("a writer killed mid-put leaves the old object or the new one, whole, and later puts work", async () => {
      const root = join(await tempDir(), "packs");
      const store = await opened(root);
      await store.put(
        "packs/aa/crash",
        new Uint8Array(CRASH_SIZES[0] ?? 0).fill(0xaa),
      );
      // The kill lands inside a put (a temporary left behind) in most rounds.
      for (let round = 0; round < 3; round++) {
        await killWriterAfter(root, 2 + round);
        const bytes = await store.get("packs/aa/crash");
        const whole = CRASH_SIZES.some((size, i) =>
          Buffer.from(bytes).equals(Buffer.alloc(size, [0xaa, 0xbb][i])),
        );
        expect(whole, `a torn object of ${bytes.length} bytes`).toBe(true);
        expect(await infos(store)).toEqual([
          { name: "packs/aa/crash", size: bytes.length },
        ]);
      }
      await store.put("packs/aa/crash", new Uint8Array([1, 2, 3]));
      expect(await store.get("packs/aa/crash")).toEqual(
        new Uint8Array([1, 2, 3]),
      );
    });

    it("does not list files whose names are no object names", async () => {
      const root = join(await tempDir(), "packs");
      const store = await opened(root);
      await store.put("index/a", new Uint8Array(1));
      await writeFile(join(root, "index", "notes about this.txt"), "x");
      await writeFile(join(root, "index", "caf\u00e9"), "x");
      expect(await listAll(store)).toEqual(["index/a"]);
    });

    it("a copy made with cp -a opens elsewhere and reads the same objects", async () => {
      const base = await tempDir();
      const root = join(base, "packs");
      const store = await opened(root);
      const contents = new Map([
        ["config", new Uint8Array(randomBytes(40))],
        ["keys/k1", new Uint8Array(randomBytes(60))],
        ["packs/ab/ab01", new Uint8Array(randomBytes(100_000))],
        ["index/i1", new Uint8Array(0)],
      ]);
      for (const [name, bytes] of contents) await store.put(name, bytes);
      await store.close();
      const copy = join(base, "elsewhere", "moved");
      await mkdir(join(base, "elsewhere"));
      execFileSync("cp", ["-a", root, copy]);
      await rm(root, { recursive: true });
      const moved = await opened(copy, false);
      expect(moved.where).toBe(copy);
      expect(await listAll(moved)).toEqual([...contents.keys()].sort());
      for (const [name, bytes] of contents)
        expect(Buffer.from(await moved.get(name)).equals(bytes)).toBe(true);
      expect(await modeOf(join(copy, "packs", "ab", "ab01"))).toBe(0o600);
    });

    it("a ranged get reads only its range, so a sparse 5 GiB object answers at once", async () => {
      const root = join(await tempDir(), "packs");
      const store = await opened(root);
      await store.put("packs/ff/huge", new Uint8Array(0));
      // Past what one Buffer may hold: a whole-file read could not even allocate it.
      const size = 5 * 1024 ** 3;
      const handle = await open(join(root, "packs", "ff", "huge"), "r+");
      try {
        await handle.truncate(size);
        await handle.write(Buffer.from("tail"), 0, 4, size - 4);
      } finally {
        await handle.close();
      }
      expect(await store.stat("packs/ff/huge")).toEqual({
        name: "packs/ff/huge",
        size,
      });
      expect(
        await store.get("packs/ff/huge", { offset: size - 6, length: 6 }),
      ).toEqual(new Uint8Array([0, 0, 116, 97, 105, 108]));
    });
  });

  describe("links and other strangers inside the root", () => {
    it("a symlinked object is never listed, and get and stat refuse it as integrity", async () => {
      const base = await tempDir();
      const root = join(base, "packs");
      const store = await opened(root);
      await store.put("keys/real", new Uint8Array([1]));
      await writeFile(join(base, "outside"), "secret");
      await symlink(join(base, "outside"), join(root, "keys", "linked"));
      await symlink(join(base, "nowhere"), join(root, "keys", "dangling"));
      expect(await listAll(store)).toEqual(["keys/real"]);
      for (const name of ["keys/linked", "keys/dangling"]) {
        const read = await rejection(store.get(name));
        expect(read.kind).toBe("integrity");
        expect(read.message).toContain(join(root, "keys", name.slice(5)));
        expect((await rejection(store.stat(name))).kind).toBe("integrity");
      }
    });

    it("a symlinked folder is not walked, and nothing is read, written or deleted through it", async () => {
      const base = await tempDir();
      const root = join(base, "packs");
      const store = await opened(root);
      const outside = join(base, "outside");
      await mkdir(join(outside, "ab"), { recursive: true });
      await writeFile(join(outside, "ab", "victim"), "keep me");
      await symlink(outside, join(root, "packs"));
      expect(await listAll(store)).toEqual([]);
      expect(await listAll(store, "packs/ab/")).toEqual([]);
      for (const attempt of [
        () => store.put("packs/ab/new", new Uint8Array([1])),
        () => store.put("packs/cd/new", new Uint8Array([1])),
        () => store.get("packs/ab/victim"),
        () => store.stat("packs/ab/victim"),
        () => store.delete("packs/ab/victim"),
      ])
        expect((await rejection(attempt())).kind).toBe("integrity");
      expect((await readdir(outside)).sort()).toEqual(["ab"]);
      expect(await readdir(join(outside, "ab"))).toEqual(["victim"]);
    });

    it("a FIFO under an object's name is integrity, not a hang", async () => {
      const root = join(await tempDir(), "packs");
      const store = await opened(root);
      await store.put("locks/real", new Uint8Array(1));
      execFileSync("mkfifo", [join(root, "locks", "fifo")]);
      expect((await rejection(store.get("locks/fifo"))).kind).toBe("integrity");
      expect((await rejection(store.stat("locks/fifo"))).kind).toBe(
        "integrity",
      );
      expect(await listAll(store)).toEqual(["locks/real"]);
    });
  });

  describe("file system errors", () => {
    it("an object in the way of a folder fails with the path, and writes nothing", async () => {
      const root = join(await tempDir(), "packs");
      const store = await opened(root);
      await store.put("config", new Uint8Array([1]));
      const error = await rejection(
        store.put("config/inner", new Uint8Array([2])),
      );
      expect(error.kind).toBe("failed");
      expect(error.message).toContain(join(root, "config"));
      expect(await store.get("config")).toEqual(new Uint8Array([1]));
      expect(await listAll(store)).toEqual(["config"]);
    });

    it("a folder in the way of an object fails with the path and cause, leaving no temporary", async () => {
      const root = join(await tempDir(), "packs");
      const store = await opened(root);
      await store.put("index/a", new Uint8Array([1]));
      const error = await rejection(store.put("index", new Uint8Array([2])));
      expect(error.kind).toBe("failed");
      expect(error.message).toContain(join(root, "index"));
      expect(error.cause).toBeInstanceOf(Error);
      expect((await readdir(root)).sort()).toEqual(["index"]);
      // A folder is not an object: reading, stating and deleting it see none.
      expect((await rejection(store.get("index"))).kind).toBe("not-found");
      expect(await store.stat("index")).toBeUndefined();
      await store.delete("index");
      expect(await listAll(store)).toEqual(["index/a"]);
    });

    it("get of a name below an object is not-found", async () => {
      const root = join(await tempDir(), "packs");
      const store = await opened(root);
      await store.put("config", new Uint8Array([1]));
      expect((await rejection(store.get("config/x"))).kind).toBe("not-found");
      expect(await store.stat("config/x")).toBeUndefined();
      await store.delete("config/x");
      expect(await listAll(store, "config/")).toEqual([]);
    });

    it("refuses use after close", async () => {
      const store = await opened(join(await tempDir(), "packs"));
      await store.close();
      await expect(store.put("config", new Uint8Array(1))).rejects.toThrow(
        /after close/,
      );
      await expect(listAll(store)).rejects.toThrow(/after close/);
    });
  });
});
