/**
 * Small files read in batches (native/readfiles.c, or Node's calls without the addon) must
 * give the backup exactly what reading each file alone gives: the same bytes, the same refusal
 * of a symlink or a FIFO, and every file the batch could not read in full handed back to be
 * read the usual way, so its error (or its new length) is what it always was.
 */
import { execFileSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ClientCache, Repository, headOf } from "../../repo/index.js";
import { SqliteStore } from "../../store/index.js";
import { toHex } from "../../util/bytes.js";
import { native } from "../../util/native.js";
import { seededBytes } from "../../../test/helpers/prng.js";
import { OPEN_FLAGS } from "./file-reading.js";
import {
  BATCHED_FILE_MAX,
  SmallFileBatches,
  type DigestBatch,
  readBatchInNode,
  type ReadBatch,
} from "./small-file-batch.js";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "blindsync-batch-"));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/**
 * A first backup of `source` into a new repository below root, through `archiver` (a module
 * instance of the test's choosing: mocks reset the registry), with the cache named `name`.
 */
async function firstBackups(
  source: string,
  runs: readonly {
    name: string;
    archiver: () => Promise<typeof import("./archiver.js")>;
  }[],
): Promise<{ tree: string; files: number; warnings: string[] }[]> {
  const store = await SqliteStore.open(join(root, "repo"), { create: true });
  try {
    const repo = await Repository.create(
      store,
      new TextEncoder().encode("batch test passphrase"),
      { scrypt: { logN: 15, r: 8, p: 1 } },
    );
    const results = [];
    for (const { name, archiver } of runs) {
      const { backup } = await archiver();
      const warnings: string[] = [];
      const cache = ClientCache.open(join(root, "cache"), name);
      try {
        const result = await backup({
          repo,
          cache,
          head: headOf(await repo.listSnapshots()),
          sources: [source],
          sink: { progress: () => undefined, warn: (w) => warnings.push(w) },
        });
        results.push({
          tree: toHex(result.snapshot?.tree ?? new Uint8Array()),
          files: result.files,
          warnings,
        });
      } finally {
        cache.close();
      }
    }
    return results;
  } finally {
    await store.close();
  }
}

/** Files of every kind a batch meets, with the capacity the walker would give each. */
function edgeCases(): { paths: Buffer[]; capacities: Uint32Array } {
  writeFileSync(join(root, "text"), "hello\n");
  writeFileSync(join(root, "empty"), "");
  writeFileSync(join(root, "grown"), "longer than lstat said");
  writeFileSync(Buffer.from(join(root, "caf\xe9"), "latin1"), "latin1 name");
  symlinkSync(join(root, "text"), join(root, "link"));
  mkdirSync(join(root, "dir"));
  execFileSync("mkfifo", [join(root, "fifo")]);
  const names = ["text", "empty", "grown", "link", "dir", "missing", "fifo"];
  const paths = names.map((name) => Buffer.from(join(root, name)));
  paths.push(Buffer.from(join(root, "caf\xe9"), "latin1"));
  // "grown" gets a slot smaller than its bytes, as a file that grew after its lstat.
  return { paths, capacities: Uint32Array.from([7, 1, 5, 1, 1, 1, 1, 12]) };
}

describe("reading a batch of small files", () => {
  it.skipIf(native?.readFiles === undefined)(
    "the addon and Node's calls give the same answers and bytes, errors as negated errnos",
    async () => {
      const { paths, capacities } = edgeCases();
      const total = capacities.reduce((sum, capacity) => sum + capacity, 0);
      const fromNode = Buffer.alloc(total);
      const fromAddon = Buffer.alloc(total);
      const inNode = readBatchInNode(paths, fromNode, capacities);
      const readFiles = native?.readFiles;
      if (readFiles === undefined) throw new Error("unreachable");
      const inAddon = await readFiles(paths, OPEN_FLAGS, fromAddon, capacities);
      expect([...inAddon]).toEqual([...inNode]);
      expect(fromAddon.equals(fromNode)).toBe(true);
      // text, empty, grown (slot full), link (ELOOP), dir (EISDIR), missing (ENOENT), a FIFO
      // without a writer (opened without blocking: end of file at once), a latin1 name.
      expect([...inNode]).toEqual([6, 0, 5, -40, -21, -2, 0, 11]);
      expect(fromNode.subarray(0, 6).toString()).toBe("hello\n");
    },
  );

  it("SmallFileBatches hands out whole files, and undefined for one it could not read in full", async () => {
    const { paths, capacities } = edgeCases();
    const batches = new SmallFileBatches((batchPaths, into, slots) =>
      Promise.resolve(readBatchInNode(batchPaths, into, slots)),
    );
    // The walker passes lstat's size; the batch adds the byte that detects growth.
    const tickets = paths.map((path, index) =>
      batches.add(path, (capacities[index] as number) - 1),
    );
    const taken = await Promise.all(
      tickets.map(async (ticket) =>
        (await batches.take(ticket))?.data.toString(),
      ),
    );
    expect(taken).toEqual([
      "hello\n",
      "",
      undefined,
      undefined,
      undefined,
      undefined,
      "",
      "latin1 name",
    ]);
  });

  it("SmallFileBatches digests each batch once read: files' bytes from the buffer that came back, with their digests", async () => {
    const { paths, capacities } = edgeCases();
    const seen: number[][] = [];
    const digest: DigestBatch = (names, into, offsets, lengths) => {
      // The batch's paths, in the order its files were added.
      expect(names).toEqual(paths);
      seen.push([...lengths]);
      // As a worker would: the bytes come back in another buffer, the one sent is gone.
      const plaintexts = Uint8Array.prototype.slice.call(into);
      into.fill(0);
      return Promise.resolve({
        plaintexts,
        files: [...lengths].map((length, index) =>
          length <= 0
            ? undefined
            : {
                plaintext: plaintexts.subarray(
                  offsets[index],
                  (offsets[index] as number) + length,
                ),
                id: Uint8Array.of(index),
                checksum: Uint8Array.of(length),
              },
        ),
      });
    };
    const batches = new SmallFileBatches(
      (batchPaths, into, slots) =>
        Promise.resolve(readBatchInNode(batchPaths, into, slots)),
      digest,
    );
    const tickets = paths.map((path, index) =>
      batches.add(path, (capacities[index] as number) - 1),
    );
    const taken = await Promise.all(
      tickets.map(async (ticket) => {
        const read = await batches.take(ticket);
        return read === undefined
          ? undefined
          : [read.data.toString(), read.digest?.id[0]];
      }),
    );
    // A file not read whole (grown, an error) goes to the digest with a negative length.
    expect(seen).toEqual([[6, 0, -1, -40, -21, -2, 0, 11]]);
    expect(taken).toEqual([
      ["hello\n", 0],
      ["", undefined],
      undefined,
      undefined,
      undefined,
      undefined,
      ["", undefined],
      ["latin1 name", 7],
    ]);
  });

  it("SmallFileBatches rejects a take when the digest failed (a failed worker), without an unhandled rejection", async () => {
    const { paths, capacities } = edgeCases();
    const batches = new SmallFileBatches(
      (batchPaths, into, slots) =>
        Promise.resolve(readBatchInNode(batchPaths, into, slots)),
      () => Promise.reject(new Error("worker gone")),
    );
    const ticket = batches.add(
      paths[0] as Buffer,
      (capacities[0] as number) - 1,
    );
    // Read ahead and failed before anyone took from it.
    batches.start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(batches.take(ticket)).rejects.toThrow("worker gone");
  });

  it("reads one batch ahead of the files taken, and a failed batch sends its files the usual way", async () => {
    const sizes: number[] = [];
    let failNext = false;
    const reader: ReadBatch = (paths, into, slots) => {
      sizes.push(paths.length);
      if (failNext) return Promise.reject(new Error("out of memory"));
      return Promise.resolve(readBatchInNode(paths, into, slots));
    };
    const data = seededBytes(7, 600);
    const path = join(root, "f");
    writeFileSync(path, data);
    const batches = new SmallFileBatches(reader);
    // 600 files of 600 bytes: three batches of at most 256 files.
    const tickets = Array.from({ length: 600 }, () =>
      batches.add(Buffer.from(path), data.length),
    );
    expect(sizes).toEqual([]);
    batches.start();
    expect(sizes).toEqual([256]);
    expect((await batches.take(tickets[0] as never))?.data.equals(data)).toBe(
      true,
    );
    // Taking from the first batch started the second, not the third.
    expect(sizes).toEqual([256, 256]);
    failNext = true;
    expect((await batches.take(tickets[256] as never))?.data.equals(data)).toBe(
      true,
    );
    expect(sizes).toEqual([256, 256, 88]);
    await expect(batches.take(tickets[599] as never)).resolves.toBeUndefined();
  });
});

describe("a backup with and without the addon's batch reads", () => {
  it("stores the same tree and warns alike for empty, unreadable, symlinked and larger files", async () => {
    const source = join(root, "source");
    mkdirSync(join(source, "sub"), { recursive: true });
    writeFileSync(join(source, "empty"), "");
    writeFileSync(join(source, "small"), seededBytes(1, 900));
    writeFileSync(
      join(source, "sub", "edge"),
      seededBytes(2, BATCHED_FILE_MAX),
    );
    writeFileSync(join(source, "sub", "large"), seededBytes(3, 300_000));
    symlinkSync("small", join(source, "link"));
    execFileSync("mkfifo", [join(source, "sub", "fifo")]);
    // Root reads every file whatever its mode: the unreadable case needs another user.
    if (process.getuid?.() !== 0)
      writeFileSync(join(source, "secret"), "x", { mode: 0o000 });
    let fallbackLoaded = false;
    const [withAddon, without] = await firstBackups(source, [
      { name: "addon", archiver: () => import("./archiver.js") },
      {
        name: "node",
        archiver: () => {
          vi.resetModules();
          vi.doMock("../../util/native.js", () => ({
            get native() {
              fallbackLoaded = true;
              return undefined;
            },
          }));
          return import("./archiver.js");
        },
      },
    ]).finally(() => {
      vi.doUnmock("../../util/native.js");
      vi.resetModules();
    });
    expect(fallbackLoaded).toBe(true);
    expect(without).toEqual(withAddon);
    expect(withAddon?.files).toBe(4);
    if (process.getuid?.() !== 0)
      expect(withAddon?.warnings).toEqual([
        expect.stringMatching(/secret.*cannot read file.*EACCES/),
      ]);
  });
});

describe("how many directories read their files at once", () => {
  it("a first backup of nested directories reads the files of at most DIRS_READING at once", async () => {
    // 4 × 8 × 4 leaf directories of 12 small files: walked eight children at a time per level,
    // 128 leaves would be reading at once without the bound.
    const source = join(root, "source");
    for (let a = 0; a < 4; a++)
      for (let b = 0; b < 8; b++)
        for (let c = 0; c < 4; c++) {
          const dir = join(source, `a${a}`, `b${b}`, `c${c}`);
          mkdirSync(dir, { recursive: true });
          for (let f = 0; f < 12; f++)
            writeFileSync(
              join(dir, `f${f}`),
              seededBytes(a * 1000 + b * 100 + c * 10 + f, 2000),
            );
        }
    // From the module registry the archiver imports from (another test reset it).
    const { DIRS_READING } = await import("./walker.js");
    const { SmallFileBatches: Batches } = await import("./small-file-batch.js");
    // A directory reads from its first take until every file it added was taken.
    const added = new Map<SmallFileBatches, number>();
    const taken = new Map<SmallFileBatches, number>();
    let reading = 0;
    let most = 0;
    const add: SmallFileBatches["add"] = Reflect.get(Batches.prototype, "add");
    const take: SmallFileBatches["take"] = Reflect.get(
      Batches.prototype,
      "take",
    );
    vi.spyOn(Batches.prototype, "add").mockImplementation(function (
      this: SmallFileBatches,
      ...args: Parameters<SmallFileBatches["add"]>
    ) {
      added.set(this, (added.get(this) ?? 0) + 1);
      return add.apply(this, args);
    });
    vi.spyOn(Batches.prototype, "take").mockImplementation(async function (
      this: SmallFileBatches,
      ...args: Parameters<SmallFileBatches["take"]>
    ) {
      if (!taken.has(this)) {
        taken.set(this, 0);
        reading += 1;
        most = Math.max(most, reading);
      }
      const answer = await take.apply(this, args);
      const count = (taken.get(this) ?? 0) + 1;
      taken.set(this, count);
      if (count === added.get(this)) reading -= 1;
      return answer;
    });
    try {
      const [only] = await firstBackups(source, [
        { name: "bound", archiver: () => import("./archiver.js") },
      ]);
      expect(only?.files).toBe(4 * 8 * 4 * 12);
    } finally {
      vi.restoreAllMocks();
    }
    expect(taken.size).toBe(4 * 8 * 4);
    expect(reading).toBe(0);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(DIRS_READING);
  });
});
