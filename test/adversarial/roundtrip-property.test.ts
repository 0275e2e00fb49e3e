/**
 * T13: the round-trip property over random trees. fast-check builds directory trees with file
 * sizes on the chunker's boundaries (0, 1, min/avg/max ± 1, several max-size chunks), names of
 * arbitrary bytes (spaces, newlines, leading dashes, invalid UTF-8), modes with setuid, setgid
 * and sticky bits, nanosecond mtimes before and after 1970, symlinks (dangling, absolute,
 * upwards), hardlinks, duplicated contents and empty directories. Each tree is backed up by
 * the engine into a fresh SQLite repository with small chunker parameters, restored into an
 * empty directory, and compared exactly (content, type, mode, mtime to the nanosecond, link
 * targets, hardlink groups); then a second backup from an empty cache must upload nothing.
 * CI runs 10 trees, the long run 200.
 */
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backup, restoreSnapshot } from "../../src/engine/index.js";
import { applyRootMeta } from "../../src/engine/root-meta.js";
import { ClientCache, Repository } from "../../src/repo/index.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { exactFileTimes, setFileTimes } from "../../src/util/file-times.js";
import { count } from "../helpers/counts.js";
import { seededBytes } from "../helpers/prng.js";
import { directoryDifferences, removeDir, tempDir } from "../helpers/trees.js";

const CHUNKER = { minSize: 1024, avgSize: 4096, maxSize: 16384 };
const TREES = count(10, 200);
const SIZES = [
  0,
  1,
  2,
  CHUNKER.minSize - 1,
  CHUNKER.minSize,
  CHUNKER.minSize + 1,
  CHUNKER.avgSize - 1,
  CHUNKER.avgSize,
  CHUNKER.avgSize + 1,
  CHUNKER.maxSize - 1,
  CHUNKER.maxSize,
  CHUNKER.maxSize + 1,
  3 * CHUNKER.maxSize + 7,
];
const warnings: string[] = [];
const sink = {
  progress: () => undefined,
  warn: (message: string) => {
    warnings.push(message);
  },
};

interface FileGen {
  readonly kind: "file";
  readonly name: Uint8Array;
  readonly size: number;
  /** Content seed; a small set, so equal contents recur (dedup) and zeros appear. */
  readonly seed: number;
  readonly mode: number;
  readonly mtimeNs: bigint;
}
interface LinkGen {
  readonly kind: "symlink";
  readonly name: Uint8Array;
  readonly target: Uint8Array;
  readonly mtimeNs: bigint;
}
interface HardlinkGen {
  readonly kind: "hardlink";
  readonly name: Uint8Array;
}
interface DirGen {
  readonly kind: "dir";
  readonly name: Uint8Array;
  readonly mode: number;
  readonly mtimeNs: bigint;
  readonly children: readonly EntryGen[];
}
type EntryGen = FileGen | LinkGen | HardlinkGen | DirGen;

const oddNames = [
  "plain",
  "with space",
  "new\nline",
  "-leading-dash",
  ".hidden",
  "...",
  "ünïcødé ✓",
  "tab\there",
  "x".repeat(255),
].map((name) => new Uint8Array(Buffer.from(name)));
const nameArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(...oddNames),
  fc
    .uint8Array({ minLength: 1, maxLength: 12, min: 1, max: 255 })
    .map((bytes) => bytes.map((byte) => (byte === 0x2f ? 0x5f : byte)))
    .filter((bytes) => {
      const text = Buffer.from(bytes).toString("latin1");
      return text !== "." && text !== "..";
    }),
);
// With the nanosecond addon any time round-trips, before 1970 too; without it, whole µs ≥ 0.
const mtimeArb: fc.Arbitrary<bigint> = exactFileTimes
  ? fc.bigInt({
      min: -(2n ** 31n - 1n) * 1_000_000_000n,
      max: 2n ** 33n * 1_000_000_000n,
    })
  : fc.bigInt({ min: 0n, max: 2n ** 32n * 1_000_000n }).map((us) => us * 1000n);
const fileModeArb = fc.constantFrom(
  0o644,
  0o600,
  0o755,
  0o400,
  0o4755,
  0o2750,
  0o1644,
  0o666,
);
const dirModeArb = fc.constantFrom(0o755, 0o700, 0o750, 0o1777, 0o2775);

const { entry: entryArb } = fc.letrec<{ entry: EntryGen; dir: DirGen }>(
  (tie) => ({
    entry: fc.oneof(
      { maxDepth: 3, depthIdentifier: "tree" },
      {
        arbitrary: fc.record({
          kind: fc.constant("file" as const),
          name: nameArb,
          size: fc.oneof(fc.constantFrom(...SIZES), fc.nat({ max: 40_000 })),
          seed: fc.integer({ min: 0, max: 5 }),
          mode: fileModeArb,
          mtimeNs: mtimeArb,
        }),
        weight: 6,
      },
      {
        arbitrary: fc.record({
          kind: fc.constant("symlink" as const),
          name: nameArb,
          target: fc.oneof(
            fc.constantFrom(
              ...["../up", "/etc/hostname", "does/not/exist", "."].map(
                (target) => new Uint8Array(Buffer.from(target)),
              ),
            ),
            fc.uint8Array({ minLength: 1, maxLength: 30, min: 1, max: 255 }),
          ),
          mtimeNs: mtimeArb,
        }),
        weight: 1,
      },
      {
        arbitrary: fc.record({
          kind: fc.constant("hardlink" as const),
          name: nameArb,
        }),
        weight: 1,
      },
      { arbitrary: tie("dir"), weight: 2 },
    ),
    dir: fc.record({
      kind: fc.constant("dir" as const),
      name: nameArb,
      mode: dirModeArb,
      mtimeNs: mtimeArb,
      children: fc.array(tie("entry"), { maxLength: 6 }),
    }),
  }),
);
const rootArb = fc.array(entryArb, { minLength: 1, maxLength: 10 });

function contentOf(size: number, seed: number): Buffer {
  // Seed 0 is all zeros (sparse-friendly, compressible); the rest are pseudo-random.
  return seed === 0 ? Buffer.alloc(size) : seededBytes(seed * 7919, size);
}

/** Writes the generated tree under `root`; returns the number of regular files written. */
async function materialize(
  root: Buffer,
  entries: readonly EntryGen[],
): Promise<number> {
  let files = 0;
  let firstFile: Buffer | undefined;
  const times: [Buffer, bigint, boolean][] = [];
  const modes: [Buffer, number][] = [];
  const at = (dir: Buffer, name: Uint8Array): Buffer =>
    Buffer.concat([dir, Buffer.from("/"), name]);
  async function write(dir: Buffer, list: readonly EntryGen[]): Promise<void> {
    const seen = new Set<string>();
    for (const entry of list) {
      const key = Buffer.from(entry.name).toString("hex");
      if (seen.has(key)) continue;
      seen.add(key);
      const path = at(dir, entry.name);
      switch (entry.kind) {
        case "file":
          await fsp.writeFile(path, contentOf(entry.size, entry.seed));
          modes.push([path, entry.mode]);
          times.push([path, entry.mtimeNs, false]);
          firstFile ??= path;
          files++;
          break;
        case "symlink":
          await fsp.symlink(Buffer.from(entry.target), path);
          times.push([path, entry.mtimeNs, true]);
          break;
        case "hardlink":
          if (firstFile === undefined) seen.delete(key);
          else {
            await fsp.link(firstFile, path);
            files++;
          }
          break;
        case "dir":
          await fsp.mkdir(path);
          await write(path, entry.children);
          modes.push([path, entry.mode]);
          times.push([path, entry.mtimeNs, false]);
          break;
      }
    }
  }
  await write(root, entries);
  // Modes first, then times deepest-first (the list is in post-order for directories).
  for (const [path, mode] of modes) await fsp.chmod(path, mode);
  for (const [path, mtimeNs, noFollow] of times)
    await setFileTimes(path, mtimeNs, noFollow);
  return files;
}

let work: string;

beforeAll(async () => {
  work = await tempDir("blindsync-t13-");
});

afterAll(async () => {
  await removeDir(work);
});

describe("round trip over random trees (T13)", () => {
  it(`restores ${TREES} random trees with boundary sizes, odd names, modes and times exactly, and a second backup uploads nothing`, async () => {
    let run = 0;
    let filesSeen = 0;
    let multiChunk = 0;
    await fc.assert(
      fc.asyncProperty(rootArb, async (entries) => {
        const dir = join(work, `tree-${run++}`);
        const source = Buffer.from(join(dir, "source"));
        const target = join(dir, "target");
        await fsp.mkdir(source, { recursive: true });
        filesSeen += await materialize(source, entries);
        await setFileTimes(source, 1_234_567_890_123_456_789n);
        const store = await SqliteStore.open(join(dir, "repo"), {
          create: true,
        });
        const caches: ClientCache[] = [];
        try {
          const repo = await Repository.create(store, Buffer.from("pw"), {
            chunker: CHUNKER,
            scrypt: { logN: 15, r: 8, p: 1 },
          });
          const cache = ClientCache.open(join(dir, "cache"), "first");
          caches.push(cache);
          const first = await backup({
            repo,
            cache,
            head: undefined,
            sources: [source.toString()],
            sink,
          });
          if (first.snapshot === undefined) throw new Error("no snapshot");
          const restored = await restoreSnapshot({
            repo,
            snapshot: first.snapshot,
            target,
            sink,
          });
          expect(warnings).toEqual([]);
          expect(restored.errors).toBe(0);
          if (first.snapshot.root !== undefined)
            await applyRootMeta(target, first.snapshot.root);
          expect(directoryDifferences(source.toString(), target)).toEqual([]);
          if (first.blobsAdded > first.files) multiChunk++;

          // An empty cache, so nothing is skipped by the files cache: every chunk is read,
          // cut and identified again, and the store already has every one of them.
          const fresh = ClientCache.open(join(dir, "cache"), "second");
          caches.push(fresh);
          const second = await backup({
            repo,
            cache: fresh,
            head: first.snapshot,
            sources: [source.toString()],
            sink,
          });
          expect(second.blobsAdded).toBe(0);
          expect(second.bytesAdded).toBe(0);
          expect(second.snapshot?.tree).toEqual(first.snapshot.tree);
        } finally {
          for (const cache of caches) cache.close();
          await store.close();
          await removeDir(dir);
        }
      }),
      { numRuns: TREES },
    );
    expect(run).toBe(TREES);
    expect(filesSeen).toBeGreaterThan(TREES);
    expect(multiChunk).toBeGreaterThan(0);
  }, 600_000);
});
