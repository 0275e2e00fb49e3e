import { createHash, randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ClientCache,
  encodeTree,
  Repository,
  TREE_FORMAT_V4,
  type FileChecksum,
  type FileEntry,
  type Snapshot,
} from "../repo/index.js";
import { MemoryStore, type BlobId } from "../store/index.js";
import { toHex } from "../util/bytes.js";
import { backup } from "./backup/index.js";
import { findEntry } from "./browse.js";
import { forget } from "./forget.js";
import {
  MAX_LISTED,
  checkRepository,
  checkSelection,
  selectsBlob,
  type CheckProblem,
  type CheckReport,
  type ReadDataSelection,
} from "./check.js";

const PASSWORD = new TextEncoder().encode("check test passphrase");
const FAST_KDF = { scrypt: { logN: 15, r: 8, p: 1 } };

interface Fixture {
  store: MemoryStore;
  repo: Repository;
  cache: ClientCache;
  source: string;
}

let work: string;
let fixture: Fixture;

/**
 * Over the inline limit (1 KiB), so that a.txt and its copies share one data blob rather than
 * each carrying its bytes in its tree.
 */
const A_TEXT = "hello check\n".repeat(100);

async function makeRepository(): Promise<Fixture> {
  const store = new MemoryStore();
  const repo = await Repository.create(store, PASSWORD, FAST_KDF);
  const cache = ClientCache.open(join(work, "cache"), "memory-check-test");
  const source = join(work, "source");
  await fsp.mkdir(join(source, "sub", "deeper"), { recursive: true });
  await fsp.writeFile(join(source, "a.txt"), A_TEXT);
  await fsp.writeFile(join(source, "copy-of-a.txt"), A_TEXT);
  await fsp.writeFile(join(source, "sub", "b.bin"), randomBytes(3_000_000));
  await fsp.writeFile(join(source, "sub", "deeper", "c.txt"), "deep\n");
  await fsp.writeFile(join(source, "empty"), "");
  return { store, repo, cache, source };
}

async function snapshot(): Promise<Snapshot> {
  const snapshots = await fixture.repo.listSnapshots();
  const result = await backup({
    repo: fixture.repo,
    cache: fixture.cache,
    head: snapshots.at(-1),
    sources: [fixture.source],
    sink: { progress: () => undefined, warn: () => undefined },
  });
  if (result.snapshot === undefined) throw new Error("no snapshot");
  return result.snapshot;
}

async function check(
  readData: ReadDataSelection,
): Promise<{ report: CheckReport; seen: CheckProblem[] }> {
  const seen: CheckProblem[] = [];
  const report = await checkRepository({
    repo: fixture.repo,
    snapshots: await fixture.repo.listSnapshots(),
    readData,
    sink: { progress: () => undefined, problem: (p) => seen.push(p) },
  });
  return { report, seen };
}

async function fileAt(snap: Snapshot, path: string): Promise<FileEntry> {
  const { entry } = await findEntry(fixture.repo, snap.tree, path);
  if (entry?.type !== "file") throw new Error(`${path} is not a file`);
  return entry;
}

/** Replaces a stored blob by a copy with one byte flipped past the 40-byte header. */
async function flipByte(id: BlobId, kind: "data" | "tree"): Promise<void> {
  const bytes = await fixture.store.get(id);
  const at = 40 + Math.floor((bytes.length - 40) / 2);
  bytes[at] = (bytes[at] ?? 0) ^ 0x40;
  await fixture.store.delete([id]);
  await fixture.store.put([{ id, kind, bytes }]);
}

const paths = (problem: CheckProblem | undefined): string[] =>
  (problem?.paths ?? []).map((path) => Buffer.from(path).toString("utf8"));

beforeEach(async () => {
  work = await fsp.mkdtemp(join(tmpdir(), "blindsync-check-"));
  fixture = await makeRepository();
});

afterEach(async () => {
  fixture.cache.close();
  await fsp.rm(work, { recursive: true, force: true });
});

describe("checkRepository", () => {
  it("finds no problems in a healthy repository, with or without reading data", async () => {
    await snapshot();
    await fsp.writeFile(join(fixture.source, "a.txt"), "changed\n");
    const latest = await snapshot();
    // The chunker's gear table is keyed per repository, so b.bin's chunk count varies from run
    // to run; the other data blob is a.txt's first version (the second and c.txt are inline).
    const bChunks = (await fileAt(latest, "sub/b.bin")).content.length;
    const structure = await check("none");
    expect(structure.report.problems).toStrictEqual([]);
    expect(structure.report.snapshots).toBe(2);
    expect(structure.report.trees).toBeGreaterThanOrEqual(3);
    expect(structure.report.dataBlobs).toBe(1 + bChunks);
    expect(structure.report.blobsRead).toBe(0);
    const data = await check("all");
    expect(data.report.problems).toStrictEqual([]);
    expect(data.seen).toStrictEqual([]);
    expect(data.report.blobsRead).toBeGreaterThanOrEqual(data.report.dataBlobs);
    expect(data.report.bytesRead).toBeGreaterThanOrEqual(3_000_000);
    // a.txt (two versions), b.bin, c.txt, empty: copy-of-a.txt shares a.txt's first content.
    expect(data.report.filesVerified).toBe(5);
  });

  it("names the files and snapshots of a damaged data blob, only when reading data", async () => {
    const first = await snapshot();
    await fsp.writeFile(join(fixture.source, "new.txt"), "new\n");
    const second = await snapshot();
    const entry = await fileAt(first, "a.txt");
    const damaged = entry.content[0] as BlobId;
    await flipByte(damaged, "data");

    expect((await check("none")).report.problems).toStrictEqual([]);

    const { report, seen } = await check("all");
    expect(report.errors).toBe(1);
    expect(seen).toHaveLength(1);
    const problem = report.problems[0];
    expect(problem).toMatchObject({
      kind: "damaged-blob",
      severity: "error",
      blobKind: "data",
      id: toHex(damaged),
      morePaths: 0,
    });
    expect(paths(problem).sort()).toStrictEqual(["a.txt", "copy-of-a.txt"]);
    expect([...(problem?.snapshots ?? [])].sort()).toStrictEqual(
      [toHex(first.id).slice(0, 8), toHex(second.id).slice(0, 8)].sort(),
    );
  });

  it("reports a deleted data blob as missing without reading data", async () => {
    const snap = await snapshot();
    const entry = await fileAt(snap, "sub/b.bin");
    expect(entry.content.length).toBeGreaterThan(1);
    const gone = entry.content[1] as BlobId;
    await fixture.store.delete([gone]);
    for (const readData of ["none", "all"] as const) {
      const { report } = await check(readData);
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]).toMatchObject({
        kind: "missing-blob",
        id: toHex(gone),
        snapshots: [toHex(snap.id).slice(0, 8)],
      });
      expect(paths(report.problems[0])).toStrictEqual(["sub/b.bin"]);
    }
  });

  it("reports a damaged tree blob with the directory it holds", async () => {
    const snap = await snapshot();
    const { tree } = await findEntry(fixture.repo, snap.tree, "sub/deeper");
    if (tree === undefined) throw new Error("no tree");
    await flipByte(tree, "tree");
    const { report } = await check("none");
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({
      kind: "damaged-tree",
      blobKind: "tree",
      id: toHex(tree),
      snapshots: [toHex(snap.id).slice(0, 8)],
    });
    expect(paths(report.problems[0])).toStrictEqual(["sub/deeper"]);
  });

  it("reports a damaged root tree with the empty path", async () => {
    const snap = await snapshot();
    await flipByte(snap.tree, "tree");
    const { report } = await check("all");
    expect(report.problems.map((p) => p.kind)).toStrictEqual(["damaged-tree"]);
    expect(paths(report.problems[0])).toStrictEqual([""]);
  });

  it("verifies files of both stored checksum kinds (a format-4 tree) and reports one of each kind whose recorded checksum lies", async () => {
    const { repo, store } = fixture;
    const plaintext = new TextEncoder().encode("the real content");
    const id = repo.blobId(plaintext);
    const other = repo.blobId(new TextEncoder().encode("something else"));
    await store.put([repo.seal("data", id, plaintext)]);
    const file = (name: string, checksum: FileChecksum): FileEntry => ({
      type: "file",
      name: Buffer.from(name),
      mode: 0o644,
      mtimeNs: 0n,
      uid: 0,
      gid: 0,
      size: plaintext.length,
      checksum,
      content: [id],
    });
    const sha256Of = (text: Uint8Array | string): FileChecksum => ({
      kind: "sha256",
      digest: createHash("sha256").update(text).digest(),
    });
    const lies = [
      file("liar-ids.txt", repo.fileChecksum(plaintext.length, [other])),
      file("liar-sha256.txt", sha256Of("something else")),
    ];
    // Format 4 stores a checksum over chunk ids, so it can lie; format 5 derives it.
    const treePlaintext = encodeTree(
      {
        entries: [
          file("honest-ids.txt", repo.fileChecksum(plaintext.length, [id])),
          file("honest-sha256.txt", sha256Of(plaintext)),
          ...lies,
        ],
      },
      TREE_FORMAT_V4,
    );
    const tree = repo.seal("tree", repo.blobId(treePlaintext), treePlaintext);
    await store.put([tree]);
    const snap = await repo.saveSnapshot({
      seq: 1,
      previous: null,
      tree: tree.id,
      time: new Date().toISOString(),
      host: "h",
      username: "u",
      paths: ["/x"],
      tags: [],
      stats: { files: 4, dirs: 0, bytes: 64, blobsAdded: 1, bytesAdded: 16 },
    });
    expect((await check("none")).report.problems).toStrictEqual([]);
    const { report } = await check("all");
    expect(report.filesVerified).toBe(2);
    expect(report.problems).toHaveLength(2);
    for (const [index, lie] of lies.entries()) {
      expect(report.problems[index]).toMatchObject({
        kind: "file-hash-mismatch",
        id: toHex(lie.checksum.digest),
        snapshots: [toHex(snap.id).slice(0, 8)],
      });
      expect(paths(report.problems[index])).toStrictEqual([
        Buffer.from(lie.name).toString(),
      ]);
    }
  });

  it("caps the listed paths of one blob and counts the rest", async () => {
    for (let index = 0; index < MAX_LISTED + 5; index++)
      await fsp.writeFile(join(fixture.source, `dup-${index}`), A_TEXT);
    const snap = await snapshot();
    const entry = await fileAt(snap, "a.txt");
    await fixture.store.delete([entry.content[0] as BlobId]);
    const { report } = await check("none");
    expect(report.problems).toHaveLength(1);
    // a.txt, copy-of-a.txt and the 25 copies
    expect(report.problems[0]?.paths).toHaveLength(MAX_LISTED);
    expect(report.problems[0]?.morePaths).toBe(MAX_LISTED + 5 + 2 - MAX_LISTED);
  });

  it("reports nothing about the gap an ordinary forget leaves in the head chain, and counts it", async () => {
    const first = await snapshot();
    await fsp.writeFile(join(fixture.source, "a.txt"), "v2\n");
    const second = await snapshot();
    await fsp.writeFile(join(fixture.source, "a.txt"), "v3\n");
    await snapshot();
    await forget({
      repo: fixture.repo,
      snapshots: await fixture.repo.listSnapshots(),
      policy: { keepLast: 1 },
    });
    const { report, seen } = await check("none");
    expect(report.errors).toBe(0);
    expect(report.warnings).toBe(0);
    expect(report.problems).toStrictEqual([]);
    expect(seen).toStrictEqual([]);
    expect(report.snapshots).toBe(1);
    expect(report.chainGaps).toBe(1);
    expect(first.seq).toBe(1);
    expect(second.seq).toBe(2);
  });

  it("names, as an error with its reason, a snapshot the head chain leaves out (sequence 2^53-1), and each chain problem once", async () => {
    const honest = await snapshot();
    // What a key holder can write: an authentic record at the top of the sequence range, on
    // top of the honest head (test/adversarial/head-chain.test.ts shows what it does elsewhere).
    const record = {
      tree: honest.tree,
      time: new Date().toISOString(),
      host: "forger",
      username: "forger",
      paths: ["/forged"],
      tags: [],
      stats: honest.stats,
    };
    const forged = await fixture.repo.saveSnapshot({
      ...record,
      seq: Number.MAX_SAFE_INTEGER,
      previous: honest.id,
    });
    // And one whose previous is not lower: already a broken link, so named once, not twice.
    const backwards = await fixture.repo.saveSnapshot({
      ...record,
      seq: 2,
      previous: forged.id,
    });
    const { report, seen } = await check("none");
    expect(report.snapshots).toBe(3);
    expect(report.errors).toBe(2);
    expect(seen.map((p) => [p.kind, p.id])).toStrictEqual([
      ["head-chain-broken", toHex(backwards.id)],
      ["suspicious-snapshot", toHex(forged.id)],
    ]);
    const suspicious = seen[1];
    expect(suspicious?.severity).toBe("error");
    expect(suspicious?.snapshots).toStrictEqual([toHex(forged.id).slice(0, 8)]);
    expect(suspicious?.reason).toContain(toHex(forged.id).slice(0, 8));
    expect(suspicious?.reason).toMatch(
      /left out of the head chain: its sequence number 9007199254740991 jumps from 1/,
    );
  });

  it("names, as errors, a snapshot blob that does not authenticate and a key slot that does not parse, and nothing for another passphrase's slot", async () => {
    await snapshot();
    const garbage = new Uint8Array(randomBytes(200));
    const garbageId = new Uint8Array(randomBytes(32));
    await fixture.store.put([
      { id: garbageId, kind: "snapshot", bytes: garbage },
    ]);
    // Another repository's real snapshot blob, moved here: authentic there, not here.
    const other = await Repository.create(
      new MemoryStore(),
      PASSWORD,
      FAST_KDF,
    );
    const foreign = other.seal(
      "snapshot",
      garbageId.map((b) => b ^ 1),
      new Uint8Array(10),
    );
    await fixture.store.put([foreign]);
    await fixture.store.addKeySlot({ name: "0000", bytes: randomBytes(101) });
    await fixture.repo.addKey(
      new TextEncoder().encode("someone else"),
      FAST_KDF.scrypt,
    );
    const { report, seen } = await check("none");
    expect(report.snapshots).toBe(1);
    expect(report.errors).toBe(3);
    const byKind = (kind: string): CheckProblem[] =>
      seen.filter((problem) => problem.kind === kind);
    expect(
      byKind("undecodable-snapshot")
        .map((p) => p.id)
        .sort(),
    ).toStrictEqual([toHex(garbageId), toHex(foreign.id)].sort());
    expect(byKind("unreadable-key-slot").map((p) => p.id)).toStrictEqual([
      "0000",
    ]);
    for (const problem of seen) {
      expect(problem.severity).toBe("error");
      expect(problem.reason).toMatch(/blindsync repair/);
    }
  });

  it("with parts 1..t of a subset, finds a damaged blob in exactly one part", async () => {
    const snap = await snapshot();
    const entry = await fileAt(snap, "sub/b.bin");
    await flipByte(entry.content[0] as BlobId, "data");
    const of = 3;
    let found = 0;
    let read = 0;
    for (let part = 1; part <= of; part++) {
      const { report } = await check({ part, of });
      found += report.problems.length;
      read += report.blobsRead;
      for (const problem of report.problems)
        expect(paths(problem)).toStrictEqual(["sub/b.bin"]);
    }
    expect(found).toBe(1);
    const all = await check("all");
    // Neither count includes the damaged blob, whose read fails.
    expect(read).toBe(all.report.blobsRead);
  });
});

describe("read-data subsets", () => {
  const ids = Array.from(
    { length: 3000 },
    () => new Uint8Array(randomBytes(32)),
  );

  it("n/t for n = 1..t selects every blob exactly once, deterministically", () => {
    for (const of of [1, 2, 3, 7, 10]) {
      const counts = ids.map(
        (id) =>
          Array.from({ length: of }, (_, n) =>
            selectsBlob({ part: n + 1, of }, id),
          ).filter(Boolean).length,
      );
      expect(counts.every((count) => count === 1)).toBe(true);
      for (let part = 1; part <= of; part++) {
        const once = ids.map((id) => selectsBlob({ part, of }, id));
        const again = ids.map((id) => selectsBlob({ part, of }, id.slice()));
        expect(again).toStrictEqual(once);
      }
    }
  });

  it("a fraction selects about that share, and a larger fraction a superset", () => {
    const small = ids.filter((id) => selectsBlob({ fraction: 0.1 }, id));
    const large = ids.filter((id) => selectsBlob({ fraction: 0.5 }, id));
    expect(small.length).toBeGreaterThan(200);
    expect(small.length).toBeLessThan(400);
    expect(large.length).toBeGreaterThan(1300);
    expect(large.length).toBeLessThan(1700);
    expect(small.every((id) => large.includes(id))).toBe(true);
    expect(ids.every((id) => selectsBlob({ fraction: 1 }, id))).toBe(true);
    expect(ids.some((id) => selectsBlob("none", id))).toBe(false);
  });

  it("the first four id bytes decide, as an unsigned big-endian number", () => {
    const id = new Uint8Array(32);
    id.set([0xff, 0xff, 0xff, 0xff]);
    expect(selectsBlob({ fraction: 0.999 }, id)).toBe(false);
    expect(selectsBlob({ part: 1, of: 1 }, id)).toBe(true);
    // 0xffffffff mod 2 = 1, so part 2 of 2
    expect(selectsBlob({ part: 2, of: 2 }, id)).toBe(true);
    id.set([0, 0, 0, 1]);
    expect(selectsBlob({ fraction: 0.0001 }, id)).toBe(true);
    expect(selectsBlob({ part: 2, of: 2 }, id)).toBe(true);
  });

  it("out-of-range selections are refused", () => {
    expect(() => {
      checkSelection({ fraction: 0 });
    }).toThrow(RangeError);
    expect(() => {
      checkSelection({ fraction: 1.5 });
    }).toThrow(RangeError);
    expect(() => {
      checkSelection({ part: 0, of: 3 });
    }).toThrow(RangeError);
    expect(() => {
      checkSelection({ part: 4, of: 3 });
    }).toThrow(RangeError);
    expect(() => {
      checkSelection({ part: 1, of: 0 });
    }).toThrow(RangeError);
    expect(() => {
      checkSelection({ part: 2, of: 3 });
    }).not.toThrow();
  });
});
