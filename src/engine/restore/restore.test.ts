import { createHash } from "node:crypto";
import { promises as fsp, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import fc from "fast-check";
import {
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
  vi,
} from "vitest";
import { BlindsyncError } from "../../errors.js";
import {
  isSafeName,
  Repository,
  encodeTree,
  sortEntries,
  TREE_FORMAT_V4,
  TREE_FORMAT_VERSION,
  type TreeFormatVersion,
  type FileChecksum,
  type HardlinkKey,
  type Tree,
  type TreeEntry,
} from "../../repo/index.js";
import { MemoryStore, type BlobId } from "../../store/index.js";
import { toHex } from "../../util/bytes.js";
import { exactFileTimes } from "../../util/file-times.js";
import { joinPath } from "../fs-names.js";
import {
  restoreSnapshot,
  type RestoreOptions,
  type RestoreRepository,
  type RestoreResult,
} from "./index.js";
import { utimesSeconds } from "./times.js";

// Still sets V8's flags; the spy lets a test see the heap growth a restore asks for.
vi.mock("node:v8", async (importOriginal) => {
  const v8 = await importOriginal<typeof import("node:v8")>();
  return { ...v8, setFlagsFromString: vi.fn(v8.setFlagsFromString) };
});

// ---------------------------------------------------------------------------------------------
// An in-memory description of a snapshot, turned into real sealed blobs, so tests can craft
// hostile trees (tampered or missing blobs, lying hashes) that a backup would never produce.

type Name = string | Uint8Array;

interface Common {
  readonly name: Name;
  readonly mode?: number;
  readonly mtimeNs?: bigint;
  readonly uid?: number;
  readonly gid?: number;
}
interface FileSpec extends Common {
  readonly type: "file";
  readonly data: Uint8Array;
  readonly chunkSize?: number;
  readonly hardlink?: HardlinkKey;
  /** Chunk indices whose stored ciphertext gets one flipped byte. */
  readonly tamper?: readonly number[];
  /** Chunk indices that are never stored. */
  readonly drop?: readonly number[];
  /** Chunk indices stored under an id that is not their keyed hash (a key holder's forgery). */
  readonly forgeIds?: readonly number[];
  /** Record the SHA-256 of the content, as trees of format 1 and 2 do. */
  readonly sha256Checksum?: boolean;
  /** Overrides of what the tree records, to make it lie. */
  readonly checksum?: FileChecksum;
  readonly size?: number;
  /** The chunk list the tree records, made from the stored one after its checksum was taken. */
  readonly listed?: (ids: BlobId[]) => BlobId[];
}
interface DirSpec extends Common {
  readonly type: "dir";
  readonly children: readonly Spec[];
  /** Store the directory's tree blob tampered. */
  readonly damaged?: boolean;
}
interface LinkSpec extends Common {
  readonly type: "symlink";
  readonly target: Name;
}
type Spec = FileSpec | DirSpec | LinkSpec;

const MTIME = 1_700_000_000_123_456_789n;
const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

const expectedMtime = (ns: bigint): bigint =>
  exactFileTimes ? ns : ns - (ns % 1000n);
const bytesOf = (name: Name): Uint8Array =>
  typeof name === "string" ? new Uint8Array(Buffer.from(name)) : name;
const file = (
  name: Name,
  data: Uint8Array | string,
  extra: Partial<FileSpec> = {},
): FileSpec => ({
  type: "file",
  name,
  data: typeof data === "string" ? Buffer.from(data) : data,
  ...extra,
});
const dir = (
  name: Name,
  children: readonly Spec[],
  extra: Partial<DirSpec> = {},
): DirSpec => ({
  type: "dir",
  name,
  children,
  ...extra,
});
const symlink = (
  name: Name,
  target: Name,
  extra: Partial<LinkSpec> = {},
): LinkSpec => ({
  type: "symlink",
  name,
  target,
  ...extra,
});

function flipByte(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 0x01;
  return copy;
}

async function putDataChunks(spec: FileSpec): Promise<BlobId[]> {
  const chunkSize = spec.chunkSize ?? 64 * 1024;
  const ids: BlobId[] = [];
  for (
    let offset = 0, index = 0;
    offset < spec.data.length;
    offset += chunkSize, index++
  ) {
    const chunk = spec.data.subarray(offset, offset + chunkSize);
    const id =
      spec.forgeIds?.includes(index) === true
        ? repo.blobId(Buffer.from(`not chunk ${index}`))
        : repo.blobId(chunk);
    ids.push(id);
    if (spec.drop?.includes(index) === true) continue;
    const blob = repo.seal("data", id, chunk);
    const bytes =
      spec.tamper?.includes(index) === true ? flipByte(blob.bytes) : blob.bytes;
    await store.put([{ ...blob, bytes }]);
  }
  return ids;
}

async function toEntry(
  spec: Spec,
  format: TreeFormatVersion,
): Promise<TreeEntry> {
  const base = {
    name: bytesOf(spec.name),
    mode:
      spec.mode ??
      (spec.type === "dir" ? 0o755 : spec.type === "file" ? 0o644 : 0o777),
    mtimeNs: spec.mtimeNs ?? MTIME,
    uid: spec.uid ?? me.uid,
    gid: spec.gid ?? me.gid,
  };
  switch (spec.type) {
    case "file": {
      const ids = await putDataChunks(spec);
      const checksum: FileChecksum =
        spec.checksum ??
        (spec.sha256Checksum === true
          ? {
              kind: "sha256",
              digest: createHash("sha256").update(spec.data).digest(),
            }
          : repo.fileChecksum(spec.data.length, ids));
      const entry = {
        ...base,
        type: "file" as const,
        size: spec.size ?? spec.data.length,
        checksum,
        content: spec.listed?.(ids) ?? ids,
      };
      return spec.hardlink === undefined
        ? entry
        : { ...entry, hardlink: spec.hardlink };
    }
    case "dir":
      return {
        ...base,
        type: "dir",
        subtree: await putTree(spec.children, spec.damaged, format),
      };
    case "symlink":
      return { ...base, type: "symlink", target: bytesOf(spec.target) };
  }
}

/** `format`: 4 to store each checksum over chunk ids, so that a tree can make it lie. */
async function putTree(
  children: readonly Spec[],
  damaged = false,
  format: TreeFormatVersion = TREE_FORMAT_VERSION,
): Promise<BlobId> {
  const entries = await Promise.all(
    children.map((child) => toEntry(child, format)),
  );
  const plaintext = encodeTree({ entries: sortEntries(entries) }, format);
  const blob = repo.seal("tree", repo.blobId(plaintext), plaintext);
  await store.put([damaged ? { ...blob, bytes: flipByte(blob.bytes) } : blob]);
  return blob.id;
}

/** A fake tree id whose tree the test hands over directly, bypassing encode and decode. */
function rawTreeRepo(rawTrees: ReadonlyMap<string, Tree>): RestoreRepository {
  return {
    load: (kind, id) => repo.load(kind, id),
    loadTree: async (id) => rawTrees.get(toHex(id)) ?? repo.loadTree(id),
    blobId: (plaintext) => repo.blobId(plaintext),
    fileChecksum: (size, content) => repo.fileChecksum(size, content),
    gear: repo.gear,
    config: repo.config,
  };
}

// ---------------------------------------------------------------------------------------------
// Real directories: a fresh base per test holding the target and a sentinel tree beside it.

let repo: Repository;
let store: MemoryStore;
let base: string;
let target: string;
let outside: string;
let warnings: string[];

beforeAll(async () => {
  store = new MemoryStore();
  repo = await Repository.create(store, Buffer.from("test passphrase"), {
    scrypt: { logN: 15, r: 8, p: 1 },
  });
});

beforeEach(async () => {
  base = await fsp.mkdtemp(join(tmpdir(), "blindsync-restore-"));
  target = join(base, "target");
  outside = join(base, "outside");
  await fsp.mkdir(join(outside, "sub"), { recursive: true });
  await fsp.writeFile(join(outside, "victim"), "outside data\n");
  await fsp.writeFile(join(outside, "sub", "deep"), "deep outside data\n");
  await fsp.symlink("victim", join(outside, "link-to-victim"));
  warnings = [];
});

afterEach(async () => {
  await fsp.rm(base, { recursive: true, force: true });
});

/** Hash of everything under `root`: names, types, modes, sizes, mtimes, contents, link targets. */
async function treeHash(root: string): Promise<string> {
  const hash = createHash("sha256");
  async function visit(path: Buffer, rel: string): Promise<void> {
    const stats = await fsp.lstat(path, { bigint: true });
    hash.update(
      `${rel}\0${stats.mode}\0${stats.size}\0${stats.mtimeNs}\0${stats.ino}\0`,
    );
    if (stats.isSymbolicLink())
      hash.update(await fsp.readlink(path, { encoding: "buffer" }));
    else if (stats.isFile()) hash.update(await fsp.readFile(path));
    else if (stats.isDirectory()) {
      const names = (await fsp.readdir(path, { encoding: "buffer" })).sort(
        (a, b) => Buffer.compare(a, b),
      );
      for (const name of names)
        await visit(joinPath(path, name), `${rel}/${name.toString("hex")}`);
    }
  }
  await visit(Buffer.from(root), ".");
  return hash.digest("hex");
}

async function restore(
  children: readonly Spec[],
  options: Partial<RestoreOptions> = {},
  format: TreeFormatVersion = TREE_FORMAT_VERSION,
): Promise<RestoreResult> {
  const tree = await putTree(children, false, format);
  return restoreSnapshot({
    repo,
    snapshot: { tree },
    target,
    sink: {
      progress: () => undefined,
      warn: (message) => warnings.push(message),
    },
    ...options,
  });
}

/** Runs a hostile case and checks that nothing outside the target changed. */
async function hostile(
  run: () => Promise<RestoreResult>,
): Promise<RestoreResult> {
  const before = await treeHash(outside);
  const result = await run();
  expect(await treeHash(outside)).toBe(before);
  return result;
}

const at = (...parts: string[]): string => join(target, ...parts);
const read = (...parts: string[]): Promise<string> =>
  fsp.readFile(at(...parts), "utf8");
const exists = (path: string): Promise<boolean> =>
  fsp.lstat(path).then(
    () => true,
    () => false,
  );

async function debris(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fsp.readdir(root, { recursive: true })) {
    if (entry.includes(".blindsync-")) found.push(entry);
  }
  return found;
}

function randomData(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[index] = state & 0xff;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe("restoreSnapshot()", () => {
  it("restores files, directories, empty directories and symlinks with contents intact", async () => {
    const big = randomData(300_000, 7);
    const result = await restore([
      file("a.txt", "alpha\n"),
      file("empty", ""),
      file("big.bin", big, { chunkSize: 70_000 }),
      dir("docs", [
        file("b.txt", "bravo\n"),
        dir("nested", [file("c.txt", "charlie\n")]),
      ]),
      dir("void", []),
      symlink("to-a", "a.txt"),
      symlink("dangling", "/nonexistent/place"),
    ]);
    expect(warnings).toEqual([]);
    expect(result).toMatchObject({ files: 5, dirs: 3, symlinks: 2, errors: 0 });
    expect(result.bytes).toBe(6 + 300_000 + 6 + 8);
    expect(await read("a.txt")).toBe("alpha\n");
    expect(await read("empty")).toBe("");
    expect((await fsp.readFile(at("big.bin"))).equals(big)).toBe(true);
    expect(await read("docs", "nested", "c.txt")).toBe("charlie\n");
    expect(await fsp.readdir(at("void"))).toEqual([]);
    expect(await fsp.readlink(at("to-a"))).toBe("a.txt");
    expect(await fsp.readlink(at("dangling"))).toBe("/nonexistent/place");
    expect(await debris(target)).toEqual([]);
  });

  it("round-trips names with newlines, spaces, leading dashes and bytes that are not UTF-8", async () => {
    const latin1 = new Uint8Array([0x63, 0x61, 0x66, 0xe9]); // "café" in Latin-1
    const invalid = new Uint8Array([0xff, 0xfe, 0x0a, 0x2d]);
    const names: Uint8Array[] = [
      Buffer.from("line\nbreak"),
      Buffer.from("-rf"),
      Buffer.from("--help me"),
      Buffer.from(" spaced "),
      latin1,
      invalid,
      Buffer.from("日本語"),
    ];
    await restore([
      ...names.map((name, index) => file(name, `content ${index}`)),
      dir(latin1.slice().reverse(), [file(invalid, "inner")]),
      symlink("link\n", invalid),
    ]);
    expect(warnings).toEqual([]);
    const listed = (
      await fsp.readdir(Buffer.from(target), { encoding: "buffer" })
    ).map((name) => name.toString("hex"));
    for (const name of names)
      expect(listed).toContain(Buffer.from(name).toString("hex"));
    for (const [index, name] of names.entries()) {
      const content = await fsp.readFile(
        joinPath(Buffer.from(target), name),
        "utf8",
      );
      expect(content).toBe(`content ${index}`);
    }
    const inner = joinPath(
      joinPath(Buffer.from(target), latin1.slice().reverse()),
      invalid,
    );
    expect(await fsp.readFile(inner, "utf8")).toBe("inner");
    const link = await fsp.readlink(
      joinPath(Buffer.from(target), Buffer.from("link\n")),
      {
        encoding: "buffer",
      },
    );
    expect(new Uint8Array(link)).toEqual(invalid);
  });

  it("applies modes, owners and exact mtimes (to the ns with the addon, else to the µs) to files, directories and symlinks", async () => {
    const owner = process.getuid?.() === 0 ? { uid: 1234, gid: 4321 } : {};
    await restore([
      file("script", "#!/bin/sh\n", {
        mode: 0o4755,
        mtimeNs: 1_600_000_000_987_654_321n,
        ...owner,
      }),
      file("secret", "s", { mode: 0o600, mtimeNs: 1_000_000_000_000_000_999n }),
      dir("ro", [file("inside", "x", { mode: 0o444 })], {
        mode: 0o555,
        mtimeNs: 1_500_000_000_000_001_000n,
        ...owner,
      }),
      symlink("link", "script", {
        mtimeNs: 1_400_000_000_111_111_111n,
        ...owner,
      }),
    ]);
    expect(warnings).toEqual([]);
    const script = await fsp.lstat(at("script"), { bigint: true });
    expect(Number(script.mode) & 0o7777).toBe(0o4755);
    expect(script.mtimeNs).toBe(expectedMtime(1_600_000_000_987_654_321n));
    const secret = await fsp.lstat(at("secret"), { bigint: true });
    expect(Number(secret.mode) & 0o7777).toBe(0o600);
    expect(secret.mtimeNs).toBe(expectedMtime(1_000_000_000_000_000_999n));
    const ro = await fsp.lstat(at("ro"), { bigint: true });
    expect(Number(ro.mode) & 0o7777).toBe(0o555);
    expect(ro.mtimeNs).toBe(expectedMtime(1_500_000_000_000_001_000n));
    expect((await fsp.lstat(at("ro", "inside"))).mode & 0o7777).toBe(0o444);
    const link = await fsp.lstat(at("link"), { bigint: true });
    expect(link.isSymbolicLink()).toBe(true);
    expect(link.mtimeNs).toBe(expectedMtime(1_400_000_000_111_111_111n));
    if (process.getuid?.() === 0) {
      expect([
        script.uid,
        script.gid,
        ro.uid,
        ro.gid,
        link.uid,
        link.gid,
      ]).toEqual([1234n, 4321n, 1234n, 4321n, 1234n, 4321n]);
    }
  });

  it("runs with heap headroom (a growth above the CLI's 25 %) and gives the usual growth back afterwards", async () => {
    const flags = vi.mocked(setFlagsFromString);
    flags.mockClear();
    await restore([file("a.txt", "alpha\n")]);
    const set = flags.mock.calls.map(([flag]) => flag);
    const first = /^--heap-growing-percent=(\d+)$/.exec(set[0] ?? "");
    expect(Number(first?.[1])).toBeGreaterThan(25);
    // This process never called limitHeapGrowth: V8's own growth (0) is back.
    expect(set.at(-1)).toBe("--heap-growing-percent=0");
  });

  it("restores mtimes before 1970 exactly when the nanosecond addon is present", async () => {
    await restore([file("old", "x", { mtimeNs: -1_234_567_891n })]);
    const stats = await fsp.stat(at("old"), { bigint: true });
    expect(stats.mtimeNs).toBe(exactFileTimes ? -1_234_567_891n : 0n);
  });

  it("restores a damaged file as absent, leaves no temporary debris and goes on with the rest (a format-4 tree, which can record a lying checksum)", async () => {
    const result = await hostile(() =>
      restore(
        [
          file("good-1", "one"),
          file("tampered", randomData(200_000, 3), {
            chunkSize: 50_000,
            tamper: [2],
          }),
          file("missing", randomData(100_000, 4), {
            chunkSize: 50_000,
            drop: [1],
          }),
          file("lying-hash", "real content", {
            checksum: { kind: "chunk-ids", digest: new Uint8Array(32) },
          }),
          file("lying-size", "twelve bytes", { size: 5 }),
          dir("sub", [file("good-2", "two")]),
        ],
        {},
        TREE_FORMAT_V4,
      ),
    );
    expect(result.errors).toBe(4);
    expect(result.damaged).toBe(4);
    expect(result.files).toBe(2);
    expect(await read("good-1")).toBe("one");
    expect(await read("sub", "good-2")).toBe("two");
    for (const name of ["tampered", "missing", "lying-hash", "lying-size"]) {
      expect(await exists(at(name))).toBe(false);
    }
    expect(await debris(target)).toEqual([]);
    const tamperedWarning = warnings.find((message) =>
      message.includes('"tampered"'),
    );
    expect(tamperedWarning).toMatch(
      /data blob [0-9a-f]{64} failed verification/,
    );
    expect(warnings.find((message) => message.includes('"missing"'))).toMatch(
      /data blob [0-9a-f]{64} is missing/,
    );
  });

  it("never replaces an existing file with unverified content", async () => {
    await fsp.mkdir(target);
    await fsp.writeFile(at("keep"), "previous version");
    const result = await restore([
      file("keep", "new version!", { tamper: [0] }),
    ]);
    expect(result.errors).toBe(1);
    expect(await read("keep")).toBe("previous version");
    expect(await debris(target)).toEqual([]);
  });

  it("with verify, reads every written file back and names one that changed on disk after its write", async () => {
    const result = await restore(
      [file("kept", "kept"), dir("sub", [file("changed", "original")])],
      {
        verify: true,
        sink: {
          progress: () => undefined,
          warn: (message) => warnings.push(message),
          item: (action, path) => {
            // The disk changing a file after restore wrote it and before the read-back.
            if (action === "create" && path === "sub/changed")
              writeFileSync(at("sub", "changed"), "0riginal");
          },
        },
      },
    );
    expect(result).toMatchObject({ verified: 1, errors: 1, damaged: 1 });
    expect(warnings).toEqual([
      'Verification failed for "sub/changed": its content differs from the snapshot\'s (checksum over its chunk ids mismatch)',
    ]);
  });

  it("restores and verifies files of both checksum kinds: over chunk ids and the SHA-256 older trees hold", async () => {
    const data = randomData(300_000, 7);
    const result = await restore(
      [
        file("by-ids", data, { chunkSize: 70_000 }),
        file("by-sha256", data, { chunkSize: 70_000, sha256Checksum: true }),
        file("empty", ""),
        file("empty-sha256", "", { sha256Checksum: true }),
      ],
      { verify: true },
    );
    expect(result).toMatchObject({ files: 4, verified: 4, errors: 0 });
    expect(warnings).toEqual([]);
    for (const name of ["by-ids", "by-sha256"])
      // equals(), not toEqual(): a deep comparison of 300 kB takes seconds.
      expect((await fsp.readFile(at(name))).equals(data)).toBe(true);
  });

  it("refuses a file whose format-4 tree lists its chunks swapped, one short, or under an id that is not their hash", async () => {
    const data = randomData(200_000, 8);
    const swap = (ids: BlobId[]): BlobId[] => [
      ids[1] as BlobId,
      ids[0] as BlobId,
      ...ids.slice(2),
    ];
    const result = await hostile(() =>
      restore(
        [
          file("swapped", data, { chunkSize: 50_000, listed: swap }),
          file("dropped", data, {
            chunkSize: 50_000,
            size: 150_000,
            listed: (ids) => ids.slice(0, 3),
          }),
          file("forged", data, { chunkSize: 50_000, forgeIds: [2] }),
          file("intact", data, { chunkSize: 50_000 }),
        ],
        {},
        TREE_FORMAT_V4,
      ),
    );
    expect(result).toMatchObject({ files: 1, errors: 3, damaged: 3 });
    for (const name of ["swapped", "dropped", "forged"]) {
      expect(await exists(at(name))).toBe(false);
      expect(warnings.find((message) => message.includes(`"${name}"`))).toMatch(
        /does not match the checksum over its chunk ids/,
      );
    }
    expect(await debris(target)).toEqual([]);
  });

  it("in format 5 refuses a chunk under an id that is not its hash; a list of ids the tree reorders or shortens is the file it describes", async () => {
    // The checksum is derived from the ids the tree lists, so a key holder's tree that lists
    // other ids than the backup read describes another file, as any tree it writes could.
    const data = randomData(200_000, 9);
    const result = await hostile(() =>
      restore([
        file("swapped", data, {
          chunkSize: 50_000,
          listed: (ids) => [
            ids[1] as BlobId,
            ids[0] as BlobId,
            ...ids.slice(2),
          ],
        }),
        file("dropped", data, {
          chunkSize: 50_000,
          size: 150_000,
          listed: (ids) => ids.slice(0, 3),
        }),
        file("forged", data, { chunkSize: 50_000, forgeIds: [2] }),
      ]),
    );
    expect(result).toMatchObject({ files: 2, errors: 1, damaged: 1 });
    expect(await exists(at("forged"))).toBe(false);
    expect(warnings.find((message) => message.includes('"forged"'))).toMatch(
      /does not match the checksum over its chunk ids/,
    );
    const chunk = (index: number): Uint8Array =>
      data.subarray(index * 50_000, (index + 1) * 50_000);
    const swapped = Buffer.concat([chunk(1), chunk(0), chunk(2), chunk(3)]);
    expect((await fsp.readFile(at("swapped"))).equals(swapped)).toBe(true);
    const dropped = Buffer.from(data.subarray(0, 150_000));
    expect((await fsp.readFile(at("dropped"))).equals(dropped)).toBe(true);
    expect(await debris(target)).toEqual([]);
  });

  it("skips a subtree whose tree blob is damaged, naming the directory", async () => {
    const result = await restore([
      dir("broken", [file("x", "x")], { damaged: true }),
      dir("fine", [file("y", "y")]),
    ]);
    expect(result.errors).toBe(1);
    expect(warnings[0]).toMatch(/directory "broken"/);
    expect(await exists(at("broken"))).toBe(false);
    expect(await read("fine", "y")).toBe("y");
  });

  it("refuses unsafe names even when the tree decoder is bypassed, restoring nothing under them", async () => {
    const child = await putTree([file("payload", "bad")]);
    const rootId = new Uint8Array(32).fill(0xaa);
    const entry = (name: string, type: "file" | "dir"): TreeEntry => {
      const common = {
        name: Buffer.from(name),
        mode: 0o755,
        mtimeNs: MTIME,
        uid: me.uid,
        gid: me.gid,
      };
      return type === "dir"
        ? { ...common, type, subtree: child }
        : {
            ...common,
            type,
            size: 3,
            checksum: { kind: "sha256", digest: new Uint8Array(32) },
            content: [],
          };
    };
    const rawTrees = new Map<string, Tree>([
      [
        toHex(rootId),
        {
          entries: [
            entry("", "dir"),
            entry(".", "dir"),
            entry("..", "dir"),
            entry("../outside", "dir"),
            entry(`${outside}/escape`, "file"),
            entry("a/b", "dir"),
            entry("nul\0byte", "file"),
            entry("ok", "dir"),
          ],
        },
      ],
    ]);
    const result = await hostile(() =>
      restoreSnapshot({
        repo: rawTreeRepo(rawTrees),
        snapshot: { tree: rootId },
        target,
        sink: {
          progress: () => undefined,
          warn: (message) => warnings.push(message),
        },
      }),
    );
    expect(result.errors).toBe(7);
    expect(
      warnings.filter((message) => message.startsWith("Refusing an entry")),
    ).toHaveLength(7);
    expect(warnings.join("\n")).toContain('"nul\\x00byte"');
    expect(await fsp.readdir(target)).toEqual(["ok"]);
    expect(await read("ok", "payload")).toBe("bad");
    expect(await fsp.readdir(base)).toEqual(["outside", "target"].sort());
  });

  it("does not write through a symlink planted in the target where the snapshot has a directory", async () => {
    await fsp.mkdir(target);
    await fsp.symlink(outside, at("d"));
    const result = await hostile(() =>
      restore([
        dir("d", [file("victim", "overwritten!"), file("new", "planted")]),
        file("f", "ok"),
      ]),
    );
    expect(result).toMatchObject({ errors: 1, damaged: 0 });
    expect(warnings[0]).toMatch(/Refusing to restore directory "d".*symlink/);
    expect(await fsp.readlink(at("d"))).toBe(outside);
    expect(await read("f")).toBe("ok");
  });

  it("with delete, replaces a planted directory symlink by a real directory without following it", async () => {
    await fsp.mkdir(target);
    await fsp.symlink(outside, at("d"));
    const result = await hostile(() =>
      restore([dir("d", [file("victim", "overwritten!")])], { delete: true }),
    );
    expect(result.errors).toBe(0);
    expect((await fsp.lstat(at("d"))).isDirectory()).toBe(true);
    expect(await read("d", "victim")).toBe("overwritten!");
  });

  it("replaces a pre-existing symlink at a file's final name instead of following it", async () => {
    await fsp.mkdir(target);
    await fsp.symlink(join(outside, "victim"), at("f"));
    await fsp.symlink(join(outside, "victim"), at("l"));
    const result = await hostile(() =>
      restore([file("f", "restored"), symlink("l", "elsewhere")]),
    );
    expect(result.errors).toBe(0);
    expect((await fsp.lstat(at("f"))).isFile()).toBe(true);
    expect(await read("f")).toBe("restored");
    expect(await fsp.readlink(at("l"))).toBe("elsewhere");
  });

  it("creates snapshot symlinks last and never restores through them", async () => {
    const result = await hostile(() =>
      restore(
        [
          symlink("escape", outside),
          symlink("up", ".."),
          dir("z", [file("victim", "overwritten!")]),
        ],
        { include: ["escape/victim", "up/outside/victim", "z"] },
      ),
    );
    expect(await read("z", "victim")).toBe("overwritten!");
    expect(await exists(at("escape"))).toBe(false);
    expect(result.errors).toBe(0);
    expect(result.unmatched).toEqual(["escape/victim", "up/outside/victim"]);
    await hostile(() =>
      restore([symlink("escape", outside), symlink("up", "..")]),
    );
    expect(await fsp.readlink(at("escape"))).toBe(outside);
    expect(await fsp.readlink(at("up"))).toBe("..");
  });

  it("restores only the included subtrees and the directories leading to them", async () => {
    const result = await restore(
      [
        file("top", "top"),
        dir("docs", [
          file("a.txt", "a"),
          file("b.txt", "b"),
          dir("deep", [file("c", "c")]),
        ]),
        dir("src", [dir("lib", [file("x.ts", "x")]), file("y.ts", "y")]),
      ],
      { include: ["docs/a.txt", "./src/lib/", "nope/nothing"] },
    );
    expect(result.errors).toBe(0);
    expect(result.unmatched).toEqual(["nope/nothing"]);
    expect(await read("docs", "a.txt")).toBe("a");
    expect(await exists(at("docs", "b.txt"))).toBe(false);
    expect(await exists(at("docs", "deep"))).toBe(false);
    expect(await read("src", "lib", "x.ts")).toBe("x");
    expect(await exists(at("src", "y.ts"))).toBe(false);
    expect(await exists(at("top"))).toBe(false);
  });

  it("throws a usage error for an include path that leaves the snapshot root", async () => {
    await expect(
      restore([file("a", "a")], { include: ["docs/../../x"], delete: true }),
    ).rejects.toThrow(BlindsyncError);
    expect(await exists(target)).toBe(false);
  });

  it("with delete, removes extra entries only inside restored subtrees and never follows links", async () => {
    await fsp.mkdir(at("keep", "old-dir", "deeper"), { recursive: true });
    await fsp.mkdir(at("other"), { recursive: true });
    await fsp.writeFile(at("keep", "old-file"), "old");
    await fsp.writeFile(at("keep", "old-dir", "deeper", "x"), "x");
    await fsp.symlink(outside, at("keep", "old-link"));
    await fsp.symlink(outside, at("keep", "old-dir", "inner-link"));
    await fsp.writeFile(at("other", "stays"), "not restored, not deleted");
    await fsp.writeFile(at("stray"), "outside the included subtree");
    const result = await hostile(() =>
      restore(
        [
          dir("keep", [file("wanted", "w")]),
          dir("other", [file("listed", "l")]),
          file("stray-not", "n"),
        ],
        { include: ["keep"], delete: true },
      ),
    );
    expect(result.errors).toBe(0);
    expect(result.deleted).toBe(3);
    expect((await fsp.readdir(at("keep"))).sort()).toEqual(["wanted"]);
    expect(await read("other", "stays")).toBe("not restored, not deleted");
    expect(await read("stray")).toBe("outside the included subtree");
    expect(await exists(at("stray-not"))).toBe(false);
  });

  it("with delete, replaces a directory in the way of a file; without it, refuses", async () => {
    await fsp.mkdir(at("f", "sub"), { recursive: true });
    await fsp.symlink(outside, at("f", "sub", "link"));
    let result = await hostile(() => restore([file("f", "file now")]));
    expect(result.errors).toBe(1);
    expect(warnings[0]).toMatch(/"f".*directory/);
    expect((await fsp.lstat(at("f"))).isDirectory()).toBe(true);
    expect(await debris(target)).toEqual([]);
    result = await hostile(() =>
      restore([file("f", "file now")], { delete: true }),
    );
    expect(result.errors).toBe(0);
    expect(await read("f")).toBe("file now");
  });

  it("a dry run with delete changes nothing, in the target or outside it, and reports what a real run would do", async () => {
    await fsp.mkdir(at("keep"), { recursive: true });
    await fsp.writeFile(at("keep", "old"), "old");
    await fsp.symlink(outside, at("d"));
    await fsp.writeFile(at("f"), "different");
    const before = await treeHash(target);
    const items: string[] = [];
    const result = await hostile(() =>
      restore(
        [
          dir("d", [file("victim", "overwritten!")]),
          file("f", "restored"),
          dir("keep", [file("new", "n")]),
        ],
        {
          delete: true,
          dryRun: true,
          sink: {
            progress: () => undefined,
            warn: (message) => warnings.push(message),
            item: (action, path) => items.push(`${action} ${path}`),
          },
        },
      ),
    );
    expect(await treeHash(target)).toBe(before);
    expect(warnings).toEqual([]);
    expect(result).toMatchObject({ written: 2, overwritten: 1, deleted: 2 });
    expect(items).toEqual([
      "delete d",
      "create d/",
      "create d/victim",
      "overwrite f",
      "delete keep/old",
      "create keep/new",
    ]);
  });

  it("with delete at the root, empties the target of what the snapshot lacks", async () => {
    await fsp.mkdir(at("x"), { recursive: true });
    await fsp.writeFile(at("x", "y"), "y");
    await fsp.symlink(outside, at("z"));
    const result = await hostile(() =>
      restore([file("a", "a")], { delete: true }),
    );
    expect(result.deleted).toBe(2);
    expect(await fsp.readdir(target)).toEqual(["a"]);
  });

  it("restores hardlinks as links to one inode, and copies when the link partners disagree", async () => {
    const link = { dev: 5n, ino: 77n };
    const forged = { dev: 5n, ino: 99n };
    const result = await restore(
      [
        file("first", "shared content", { hardlink: link }),
        dir("d", [file("second", "shared content", { hardlink: link })]),
        file("third", "shared content", { hardlink: link }),
        file("forged-a", "public", { hardlink: forged }),
        file("forged-b", "different", { hardlink: forged }),
      ],
      { concurrency: 3 },
    );
    expect(result.errors).toBe(0);
    const inodes = await Promise.all(
      [at("first"), at("d", "second"), at("third")].map(
        async (path) => (await fsp.stat(path)).ino,
      ),
    );
    expect(new Set(inodes).size).toBe(1);
    expect((await fsp.stat(at("first"))).nlink).toBe(3);
    expect(await read("forged-b")).toBe("different");
    expect((await fsp.stat(at("forged-a"))).ino).not.toBe(
      (await fsp.stat(at("forged-b"))).ino,
    );
    expect(result.bytes).toBe(
      "shared content".length + "public".length + "different".length,
    );
  });

  it("applies the overwrite policy to hard link partners: never leaves both, always links both anew", async () => {
    const link = { dev: 5n, ino: 78n };
    const snapshot = [
      file("a", "shared content", { hardlink: link }),
      file("b", "shared content", { hardlink: link }),
    ];
    await fsp.mkdir(target);
    await fsp.writeFile(at("a"), "old a");
    await fsp.writeFile(at("b"), "old b");
    const kept = await restore(snapshot, { overwrite: "never" });
    expect(kept).toMatchObject({ leftAlone: 2, overwritten: 0, errors: 0 });
    expect([await read("a"), await read("b")]).toEqual(["old a", "old b"]);
    const replaced = await restore(snapshot, { overwrite: "always" });
    expect(replaced).toMatchObject({ leftAlone: 0, overwritten: 2, errors: 0 });
    expect(await read("b")).toBe("shared content");
    expect((await fsp.stat(at("b"))).ino).toBe((await fsp.stat(at("a"))).ino);
  });

  it("keeps holes in sparse files", async () => {
    const size = 8 * 1024 * 1024;
    const data = new Uint8Array(size);
    data.set(Buffer.from("head"), 0);
    data.set(Buffer.from("middle"), 3 * 1024 * 1024 + 17);
    const result = await restore([
      file("sparse", data, { chunkSize: 1024 * 1024 }),
    ]);
    expect(result.errors).toBe(0);
    const stats = await fsp.stat(at("sparse"));
    expect(stats.size).toBe(size);
    expect(stats.blocks * 512).toBeLessThan(512 * 1024);
    expect((await fsp.readFile(at("sparse"))).equals(data)).toBe(true);
  });

  it("skips files already identical in the target but still fixes their mode", async () => {
    const specs = [
      file("a", "alpha", { mode: 0o640 }),
      dir("d", [file("b", "bravo")]),
    ];
    const first = await restore(specs);
    expect(first.skippedIdentical).toBe(0);
    await fsp.chmod(at("a"), 0o600);
    const second = await restore(specs);
    expect(second).toMatchObject({
      files: 2,
      skippedIdentical: 2,
      bytes: 0,
      errors: 0,
    });
    expect((await fsp.stat(at("a"))).mode & 0o7777).toBe(0o640);
    // Same size and mtime, other content: the hash check catches it and the file is rewritten.
    const stats = await fsp.stat(at("d", "b"), { bigint: true });
    await fsp.writeFile(at("d", "b"), "BRAVO");
    await fsp.utimes(at("d", "b"), stats.atime, utimesSeconds(stats.mtimeNs));
    const third = await restore(specs);
    expect(third).toMatchObject({ skippedIdentical: 1, bytes: 5 });
    expect(await read("d", "b")).toBe("bravo");
  });

  it("does not change an outside file through a hardlink planted at an identical file's name", async () => {
    await fsp.mkdir(target);
    const victim = join(outside, "victim");
    const stats = await fsp.stat(victim, { bigint: true });
    await fsp.link(victim, at("f"));
    const result = await hostile(() =>
      restore([
        file("f", "outside data\n", {
          mode: 0o4777,
          mtimeNs: stats.mtimeNs,
          ...(process.getuid?.() === 0 ? { uid: 0, gid: 0 } : {}),
        }),
      ]),
    );
    expect(result).toMatchObject({ errors: 0, skippedIdentical: 0 });
    expect((await fsp.stat(at("f"))).mode & 0o7777).toBe(0o4777);
    expect((await fsp.stat(at("f"))).ino).not.toBe(
      (await fsp.stat(victim)).ino,
    );
  });

  it("reports progress and the snapshot's totals", async () => {
    const seen: { files: number; bytes: number; totalFiles?: number }[] = [];
    const tree = await putTree([file("a", "aaaa"), file("b", "bb")]);
    await restoreSnapshot({
      repo,
      snapshot: {
        tree,
        stats: { files: 2, dirs: 0, bytes: 6, blobsAdded: 2, bytesAdded: 6 },
      },
      target,
      sink: {
        progress: (progress) => seen.push(progress),
        warn: (message) => warnings.push(message),
      },
    });
    expect(seen.at(-1)).toEqual({
      files: 2,
      bytes: 6,
      totalFiles: 2,
      totalBytes: 6,
    });
  });

  it("round-trips random trees of byte names, contents, modes and mtimes (property)", async () => {
    const name = fc
      .uint8Array({ minLength: 1, maxLength: 10 })
      .filter(
        (bytes) =>
          isSafeName(bytes) &&
          !Buffer.from(bytes).toString("latin1").startsWith(".blindsync-"),
      );
    const leaf = fc.record({
      name,
      data: fc.uint8Array({ maxLength: 3000 }),
      chunkSize: fc.integer({ min: 1, max: 1024 }),
      mode: fc.integer({ min: 0o400, max: 0o7777 }),
      mtimeNs: fc.bigInt({ min: 0n, max: 4_000_000_000_000_000_000n }),
    });
    const uniqueLeaves = fc.uniqueArray(leaf, {
      maxLength: 6,
      selector: (entry) => Buffer.from(entry.name).toString("hex"),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(uniqueLeaves, uniqueLeaves, async (top, nested) => {
        const runTarget = join(target, `run-${run++}`);
        const subName = new Uint8Array([0xc3, 0x28, 0x0a]); // invalid UTF-8 with a newline
        const specs: Spec[] = [
          ...top
            .filter((leafSpec) => !Buffer.from(leafSpec.name).equals(subName))
            .map((leafSpec) => file(leafSpec.name, leafSpec.data, leafSpec)),
          dir(
            subName,
            nested.map((leafSpec) =>
              file(leafSpec.name, leafSpec.data, leafSpec),
            ),
          ),
        ];
        const result = await restore(specs, {
          target: runTarget,
          concurrency: 3,
        });
        expect(result.errors).toBe(0);
        const check = async (
          dirPath: Buffer,
          leaves: typeof top,
        ): Promise<void> => {
          for (const leafSpec of leaves) {
            const path = joinPath(dirPath, leafSpec.name);
            const stats = await fsp.lstat(path, { bigint: true });
            expect(Number(stats.mode) & 0o7777).toBe(leafSpec.mode);
            expect(stats.mtimeNs).toBe(expectedMtime(leafSpec.mtimeNs));
            expect((await fsp.readFile(path)).equals(leafSpec.data)).toBe(true);
          }
        };
        const root = Buffer.from(runTarget);
        await check(
          root,
          top.filter((leafSpec) => !Buffer.from(leafSpec.name).equals(subName)),
        );
        await check(joinPath(root, subName), nested);
        expect(await debris(runTarget)).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });

  it("throws when the target cannot be used", async () => {
    await fsp.writeFile(target, "a file, not a directory");
    await expect(restore([file("a", "a")])).rejects.toMatchObject({
      kind: "failed",
    });
  });
});

/** Stores a tree of the given entries, each a directory named `name` holding `subtree`. */
async function putDirs(
  children: readonly { readonly name: string; readonly subtree: BlobId }[],
): Promise<BlobId> {
  const entries: TreeEntry[] = children.map(({ name, subtree }) => ({
    type: "dir",
    name: bytesOf(name),
    mode: 0o755,
    mtimeNs: MTIME,
    uid: me.uid,
    gid: me.gid,
    subtree,
  }));
  const blob = repo.sealTree({ entries: sortEntries(entries) });
  await store.put([blob]);
  return blob.id;
}

async function countEntries(root: string): Promise<number> {
  return (await fsp.readdir(root, { recursive: true })).length;
}

describe("restoreSnapshot() never deletes or overwrites protected paths", () => {
  it("with delete, keeps a protected directory inside the target and the directories above it, deleting the rest", async () => {
    await fsp.mkdir(at("usb", "vault"), { recursive: true });
    await fsp.writeFile(at("usb", "vault", "blindsync.sqlite"), "the repo");
    await fsp.writeFile(at("usb", "beside-vault"), "extra");
    await fsp.writeFile(at("stray"), "extra");
    const result = await restore([file("a", "a")], {
      delete: true,
      protect: [{ path: at("usb", "vault"), what: "the repository" }],
    });
    expect(result.errors).toBe(0);
    expect(result.deleted).toBe(2);
    expect((await fsp.readdir(target)).sort()).toEqual(["a", "usb"]);
    expect(await fsp.readdir(at("usb"))).toEqual(["vault"]);
    expect(await read("usb", "vault", "blindsync.sqlite")).toBe("the repo");
    expect(warnings.join("\n")).toMatch(
      /Kept "usb\/vault": it is the repository/,
    );
  });

  it("recognises a protected path by device and inode, not by how it is spelt", async () => {
    await fsp.mkdir(at("real-cache"), { recursive: true });
    await fsp.writeFile(at("real-cache", "cache.sqlite"), "cache");
    await fsp.symlink(at("real-cache"), join(base, "cache-link"));
    const result = await restore([file("a", "a")], {
      delete: true,
      protect: [
        {
          path: join(base, "cache-link", "..", "target", "real-cache"),
          what: "the client cache",
        },
      ],
    });
    expect(result.deleted).toBe(0);
    expect(await read("real-cache", "cache.sqlite")).toBe("cache");
  });

  it("refuses a snapshot entry that would replace a protected file or directory, restoring the rest", async () => {
    await fsp.mkdir(at("vault"), { recursive: true });
    await fsp.writeFile(at("vault", "blindsync.sqlite"), "the repo");
    await fsp.writeFile(at("db.sqlite"), "a protected file");
    const protect = [
      { path: at("vault"), what: "the repository" },
      { path: at("db.sqlite"), what: "the repository's database" },
      { path: at("db.sqlite-wal"), what: "the repository's database" },
    ];
    const snapshot = [
      dir("vault", [file("blindsync.sqlite", "an old copy")]),
      file("db.sqlite", "an old copy"),
      file("db.sqlite-wal", "not yet on disk, still protected"),
      file("other", "restored"),
    ];
    for (const options of [{}, { delete: true }]) {
      const result = await restore(snapshot, { ...options, protect });
      expect(result.refused).toBe(3);
      expect(result.errors).toBe(3);
      expect(await read("vault", "blindsync.sqlite")).toBe("the repo");
      expect(await read("db.sqlite")).toBe("a protected file");
      expect(await exists(at("db.sqlite-wal"))).toBe(false);
      expect(await read("other")).toBe("restored");
    }
  });

  it("with delete, refuses to replace a directory holding a protected path by a file, deleting nothing in it", async () => {
    await fsp.mkdir(at("usb", "vault"), { recursive: true });
    await fsp.writeFile(at("usb", "vault", "blindsync.sqlite"), "the repo");
    await fsp.writeFile(at("usb", "beside-vault"), "kept too");
    const result = await restore([file("usb", "a file now")], {
      delete: true,
      protect: [{ path: at("usb", "vault"), what: "the repository" }],
    });
    expect(result.refused).toBe(1);
    expect(warnings.join("\n")).toMatch(/"usb".*holds the repository/);
    expect(await read("usb", "beside-vault")).toBe("kept too");
    expect(await read("usb", "vault", "blindsync.sqlite")).toBe("the repo");
  });

  it("refuses a target that is, or lies inside, a protected directory, before creating anything", async () => {
    await fsp.mkdir(at("cache"), { recursive: true });
    const protect = [{ path: at("cache"), what: "the client cache" }];
    for (const into of [at("cache"), at("cache", "new", "dir")]) {
      await expect(
        restoreSnapshot({
          repo,
          snapshot: { tree: await putTree([file("a", "a")]) },
          target: into,
          protect,
          sink: { progress: () => undefined, warn: () => undefined },
        }),
      ).rejects.toMatchObject({ kind: "usage" });
    }
    expect(await fsp.readdir(at("cache"))).toEqual([]);
  });
});

describe("restoreSnapshot() bounds how far shared subtrees expand", () => {
  // The forged case (2^k directories from k trees) is test/adversarial/restore-safety.test.ts.
  it("restores an honest snapshot whose subtrees repeat, past the bound's floor (41 copies of a directory of 300 empty ones)", async () => {
    const empty = await putDirs([]);
    const inner = await putDirs(
      Array.from({ length: 300 }, (_, index) => ({
        name: `d${index}`,
        subtree: empty,
      })),
    );
    const copies = await putDirs(
      Array.from({ length: 40 }, (_, index) => ({
        name: `copy${index}`,
        subtree: inner,
      })),
    );
    const root = await putDirs([
      { name: "copies", subtree: copies },
      { name: "again", subtree: inner },
    ]);
    const result = await restoreSnapshot({
      repo,
      snapshot: { tree: root },
      target,
      sink: { progress: () => undefined, warn: () => undefined },
    });
    expect(result.errors).toBe(0);
    // 12,341 directories: more than the 10,000 entries below which the bound never applies.
    expect(result.dirs).toBe(2 + 41 * 301 - 1);
    expect(await countEntries(target)).toBe(result.dirs);
  }, 60_000);
});
