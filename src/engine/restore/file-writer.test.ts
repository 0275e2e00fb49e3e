import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlindsyncError } from "../../errors.js";
import type { BlobFileEntry, FileEntry, Tree } from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import { exactFileTimes } from "../../util/file-times.js";
import { Deletion } from "./deletion.js";
import { FileWriter, type WriteSettings } from "./file-writer.js";
import { currentOwner } from "./fs-ops.js";
import { Tally } from "./tally.js";
import { Target } from "./target.js";
import type { RestoreRepository } from "./types.js";

const MTIME = 1_700_000_000_123_456_789n;
const owner = currentOwner();

let base: string;
let warnings: string[];

beforeEach(async () => {
  base = await fsp.realpath(
    await fsp.mkdtemp(join(tmpdir(), "blindsync-file-writer-")),
  );
  warnings = [];
});

afterEach(async () => {
  await fsp.rm(base, { recursive: true, force: true });
});

/** Data blobs by hex id, served as plaintext (sealing is the repository's concern, not this one's). */
class Blobs implements RestoreRepository {
  readonly #byId = new Map<string, Uint8Array>();
  #next = 0;

  add(bytes: Uint8Array): Uint8Array {
    const id = new Uint8Array(32);
    new DataView(id.buffer).setUint32(0, ++this.#next);
    this.#byId.set(toHex(id), bytes);
    return id;
  }

  load(_kind: string, id: Uint8Array): Promise<Uint8Array> {
    const bytes = this.#byId.get(toHex(id));
    return bytes === undefined
      ? Promise.reject(new BlindsyncError("not-found", "no such blob"))
      : Promise.resolve(bytes);
  }

  loadTree(): Promise<Tree> {
    return Promise.reject(new Error("no trees here"));
  }

  // The entries here carry the SHA-256 kind of checksum, which needs none of the keyed
  // hashes; restore.test.ts covers the chunk-ids kind with a real repository.
  blobId(): never {
    throw new Error("no keyed hashes here");
  }
  fileChecksum(): never {
    throw new Error("no keyed hashes here");
  }
  get gear(): never {
    throw new Error("no chunker here");
  }
  get config(): never {
    throw new Error("no config here");
  }
}

/** A target that counts the temporary names it hands out, or hands out one name given. */
class CountingTarget extends Target {
  temporaryNames = 0;
  fixedTemp: Buffer | undefined;
  override tempPath(dir: Buffer): Buffer {
    this.temporaryNames++;
    return this.fixedTemp ?? super.tempPath(dir);
  }
}

function fileEntry(
  blobs: Blobs,
  chunks: readonly string[],
  extra: Partial<BlobFileEntry> = {},
): FileEntry {
  const data = Buffer.from(chunks.join(""));
  return {
    type: "file",
    name: Buffer.from("f"),
    mode: 0o644,
    mtimeNs: MTIME,
    uid: owner.uid,
    gid: owner.gid,
    size: data.length,
    checksum: {
      kind: "sha256",
      digest: createHash("sha256").update(data).digest(),
    },
    content: chunks.map((chunk) => blobs.add(Buffer.from(chunk))),
    ...extra,
  };
}

function writerFor(
  blobs: Blobs,
  batch: boolean,
  settings: Partial<WriteSettings> = {},
  root: string = base,
): {
  writer: FileWriter;
  target: CountingTarget;
  tally: Tally;
} {
  const target = new CountingTarget(Buffer.from(root));
  const tally = new Tally(
    { progress: () => undefined, warn: (message) => warnings.push(message) },
    {},
  );
  const dryRun = settings.dryRun ?? false;
  const deletion = new Deletion(target, tally, undefined, false, dryRun);
  const writer = new FileWriter(
    blobs,
    target,
    tally,
    deletion,
    owner,
    {
      fsync: false,
      overwrite: "if-changed",
      dryRun,
      verifier: undefined,
      ...settings,
    },
    batch,
  );
  return { writer, target, tally };
}

/** Every name in `dir` with its type, mode, size, blocks, mtime and content, sorted. */
async function describeDir(dir: string): Promise<string[]> {
  const lines: string[] = [];
  for (const name of (await fsp.readdir(dir)).sort()) {
    const stats = await fsp.lstat(join(dir, name), { bigint: true });
    const content = await fsp.readFile(join(dir, name), "hex");
    lines.push(
      `${name} ${stats.mode.toString(8)} ${stats.size} ${stats.blocks} ${stats.mtimeNs} ${content}`,
    );
  }
  return lines;
}

const MODES: readonly [string, number][] = [
  ["plain", 0o644],
  ["read-only", 0o444],
  ["group-writable", 0o664],
  ["setuid", 0o4755],
  ["empty", 0o600],
];

// With the addon, small files go through its batches (file-batch.ts); the second run covers
// the same steps on the main thread, which machines without the addon take.
describe.each([
  ["in batches where the addon can", true],
  ["on the main thread", false],
])("FileWriter, small files %s", (_way, batch) => {
  it("writes each under a temporary name renamed onto its real name, verified, with mode and mtime", async () => {
    const blobs = new Blobs();
    const { writer, target } = writerFor(blobs, batch);
    for (const [name, mode] of MODES) {
      const chunks = name === "empty" ? [] : [`${name} one `, "two ", "three"];
      const entry = fileEntry(blobs, chunks, { mode });
      const path = Buffer.from(join(base, name));
      expect(await writer.write(entry, path, true)).toBe(true);
      const stats = await fsp.stat(path, { bigint: true });
      expect(await fsp.readFile(path, "utf8")).toBe(chunks.join(""));
      expect(Number(stats.mode) & 0o7777).toBe(mode);
      expect(stats.mtimeNs).toBe(exactFileTimes ? MTIME : stats.mtimeNs);
    }
    expect(target.temporaryNames).toBe(MODES.length);
    expect((await fsp.readdir(base)).sort()).toEqual(
      MODES.map(([name]) => name).sort(),
    );
    expect(warnings).toEqual([]);
  });

  it("never opens the real name: a temporary name already taken fails the file and leaves both names as they were", async () => {
    const blobs = new Blobs();
    const { writer, target } = writerFor(blobs, batch);
    const taken = join(base, ".blindsync-0000000000000000-0.tmp");
    await fsp.writeFile(taken, "someone else's");
    target.fixedTemp = Buffer.from(taken);
    const entry = fileEntry(blobs, ["content"]);
    const path = join(base, "f");
    expect(await writer.write(entry, Buffer.from(path), true)).toBe(false);
    expect(warnings.join("\n")).toMatch(/EEXIST/);
    expect(await fsp.readdir(base)).toEqual([
      ".blindsync-0000000000000000-0.tmp",
    ]);
    expect(await fsp.readFile(taken, "utf8")).toBe("someone else's");
  });

  it("restores a small all-zero file as a hole of the right size, and an mtime before 1970", async () => {
    const blobs = new Blobs();
    const { writer } = writerFor(blobs, batch);
    const zeros = "\0".repeat(8192);
    const before1970 = -1_500_000_001n;
    const entry = fileEntry(blobs, [zeros], { mtimeNs: before1970 });
    const path = join(base, "zeros");
    expect(await writer.write(entry, Buffer.from(path), true)).toBe(true);
    const stats = await fsp.stat(path, { bigint: true });
    expect(stats.size).toBe(8192n);
    expect(stats.blocks).toBe(0n);
    expect(await fsp.readFile(path, "utf8")).toBe(zeros);
    if (exactFileTimes) expect(stats.mtimeNs).toBe(before1970);
  });

  it("creates no name at all for a small file whose content fails verification", async () => {
    const blobs = new Blobs();
    const { writer, tally, target } = writerFor(blobs, batch);
    const lying = fileEntry(blobs, ["abc"], {
      checksum: { kind: "sha256", digest: new Uint8Array(32) },
    });
    const short = fileEntry(blobs, ["abc"], { size: 10 });
    const missing = fileEntry(blobs, ["abc"], {
      content: [new Uint8Array(32).fill(9)],
    });
    for (const [name, entry] of [
      ["lying", lying],
      ["short", short],
      ["missing", missing],
    ] as const) {
      expect(
        await writer.write(entry, Buffer.from(join(base, name)), true),
      ).toBe(false);
    }
    expect(await fsp.readdir(base)).toEqual([]);
    expect(target.temporaryNames).toBe(0);
    expect(tally.result.errors).toBe(3);
    expect(warnings.join("\n")).toMatch(/does not match the SHA-256/);
    expect(warnings.join("\n")).toMatch(/missing from the repository/);
  });

  it("leaves no temporary name when the rename fails (a directory in the way, without --delete)", async () => {
    const blobs = new Blobs();
    const { writer } = writerFor(blobs, batch);
    await fsp.mkdir(join(base, "dir"));
    await fsp.writeFile(join(base, "dir", "inside"), "kept");
    const entry = fileEntry(blobs, ["file"]);
    // `fresh` skips the lstat that would send it the general way: the rename itself meets it.
    expect(
      await writer.write(entry, Buffer.from(join(base, "dir")), true),
    ).toBe(false);
    expect(await fsp.readdir(base)).toEqual(["dir"]);
    expect(await fsp.readFile(join(base, "dir", "inside"), "utf8")).toBe(
      "kept",
    );
  });

  it("follows --overwrite for what stands at the name, and a dry run writes nothing", async () => {
    const blobs = new Blobs();
    const identical = fileEntry(blobs, ["same"]);
    const changed = fileEntry(blobs, ["new content"]);
    const put = async (name: string, content: string): Promise<void> => {
      await fsp.writeFile(join(base, name), content);
    };
    await put("same", "same");
    await fsp.utimes(join(base, "same"), 1_700_000_000, 1_700_000_000);
    // Identical but for the mtime: if-changed compares size, mtime and SHA-256.
    await put("changed", "old content");
    await put("never", "mine");

    const never = writerFor(blobs, batch, { overwrite: "never" });
    expect(
      await never.writer.write(
        changed,
        Buffer.from(join(base, "never")),
        false,
      ),
    ).toBe(false);
    expect(never.tally.result.leftAlone).toBe(1);

    const dry = writerFor(blobs, batch, { dryRun: true });
    expect(
      await dry.writer.write(
        changed,
        Buffer.from(join(base, "changed")),
        false,
      ),
    ).toBe(true);
    expect(
      await dry.writer.write(changed, Buffer.from(join(base, "new")), false),
    ).toBe(true);
    expect(dry.target.temporaryNames).toBe(0);
    expect(await fsp.readFile(join(base, "changed"), "utf8")).toBe(
      "old content",
    );

    const ifChanged = writerFor(blobs, batch);
    const sameEntry = { ...identical, mtimeNs: 1_700_000_000_000_000_000n };
    expect(
      await ifChanged.writer.write(
        sameEntry,
        Buffer.from(join(base, "same")),
        false,
      ),
    ).toBe(true);
    expect(
      await ifChanged.writer.write(
        changed,
        Buffer.from(join(base, "changed")),
        false,
      ),
    ).toBe(true);
    expect(ifChanged.tally.result.skippedIdentical).toBe(1);
    expect(ifChanged.tally.result.overwritten).toBe(1);
    expect(ifChanged.target.temporaryNames).toBe(1);

    expect((await fsp.readdir(base)).sort()).toEqual([
      "changed",
      "never",
      "same",
    ]);
    expect(await fsp.readFile(join(base, "changed"), "utf8")).toBe(
      "new content",
    );
    expect(await fsp.readFile(join(base, "never"), "utf8")).toBe("mine");
    expect(warnings).toEqual([]);
  });

  it("still takes the general way for a file with more blobs than it holds at once", async () => {
    const blobs = new Blobs();
    const { writer, target } = writerFor(blobs, batch);
    const many = fileEntry(blobs, ["1", "2", "3", "4", "5"]);
    expect(await writer.write(many, Buffer.from(join(base, "b")), true)).toBe(
      true,
    );
    expect(target.temporaryNames).toBe(1);
    expect(await fsp.readFile(join(base, "b"), "utf8")).toBe("12345");
    expect(await fsp.readdir(base)).toEqual(["b"]);
  });
});

describe("FileWriter's small files with and without the addon's batches", () => {
  it("give identical files: content, modes, sizes, holes and times", async () => {
    const blobs = new Blobs();
    const entries = [
      ...MODES.map(([name, mode]) => ({
        name,
        entry: fileEntry(blobs, name === "empty" ? [] : [name, " text"], {
          mode,
        }),
      })),
      { name: "zeros", entry: fileEntry(blobs, ["\0".repeat(8192)]) },
      {
        name: "old",
        entry: fileEntry(blobs, ["before 1970"], { mtimeNs: -1_500_000_001n }),
      },
    ];
    const trees: string[][] = [];
    for (const batch of [true, false]) {
      const dir = join(base, batch ? "batched" : "direct");
      await fsp.mkdir(dir);
      const { writer } = writerFor(blobs, batch, {}, dir);
      const written = await Promise.all(
        entries.map(({ name, entry }) =>
          writer.write(entry, Buffer.from(join(dir, name)), true),
        ),
      );
      expect(written.every(Boolean)).toBe(true);
      trees.push(await describeDir(dir));
    }
    expect(trees[0]).toHaveLength(entries.length);
    expect(trees[0]).toEqual(trees[1]);
  });
});
