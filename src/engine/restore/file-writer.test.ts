import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlindsyncError } from "../../errors.js";
import type { FileEntry, Tree } from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import { exactFileTimes } from "../../util/file-times.js";
import { Deletion } from "./deletion.js";
import { FileWriter } from "./file-writer.js";
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
}

/** A target that counts the temporary names it hands out. */
class CountingTarget extends Target {
  temporaryNames = 0;
  override tempPath(dir: Buffer): Buffer {
    this.temporaryNames++;
    return super.tempPath(dir);
  }
}

function fileEntry(
  blobs: Blobs,
  chunks: readonly string[],
  extra: Partial<FileEntry> = {},
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
    sha256: createHash("sha256").update(data).digest(),
    content: chunks.map((chunk) => blobs.add(Buffer.from(chunk))),
    ...extra,
  };
}

function writerFor(
  blobs: Blobs,
  batch: boolean,
): {
  writer: FileWriter;
  target: CountingTarget;
  tally: Tally;
} {
  const target = new CountingTarget(Buffer.from(base));
  const tally = new Tally(
    { progress: () => undefined, warn: (message) => warnings.push(message) },
    {},
  );
  const deletion = new Deletion(target, tally, undefined, false);
  return {
    writer: new FileWriter(blobs, target, tally, deletion, owner, false, batch),
    target,
    tally,
  };
}

// With the addon, small files in fresh directories go through its batches (file-batch.ts);
// the second run covers FileWriter's own way, which machines without the addon take.
describe.each([
  ["in batches where the addon can", true],
  ["on the main thread", false],
])("FileWriter, %s", (_way, batch) => {
  it("writes a small file in a fresh directory straight to its name, verified, with mode and mtime", async () => {
    const blobs = new Blobs();
    const { writer, target } = writerFor(blobs, batch);
    const cases: [string, number][] = [
      ["plain", 0o644],
      ["read-only", 0o444],
      ["group-writable", 0o664],
      ["setuid", 0o4755],
      ["empty", 0o600],
    ];
    for (const [name, mode] of cases) {
      const chunks = name === "empty" ? [] : [`${name} one `, "two ", "three"];
      const entry = fileEntry(blobs, chunks, { mode });
      const path = Buffer.from(join(base, name));
      expect(await writer.write(entry, path, true)).toBe(true);
      const stats = await fsp.stat(path, { bigint: true });
      expect(await fsp.readFile(path, "utf8")).toBe(chunks.join(""));
      expect(Number(stats.mode) & 0o7777).toBe(mode);
      expect(stats.mtimeNs).toBe(exactFileTimes ? MTIME : stats.mtimeNs);
    }
    expect(target.temporaryNames).toBe(0);
    expect(warnings).toEqual([]);
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
    const { writer, tally } = writerFor(blobs, batch);
    const lying = fileEntry(blobs, ["abc"], { sha256: new Uint8Array(32) });
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
    expect(tally.result.errors).toBe(3);
    expect(warnings.join("\n")).toMatch(/does not match the SHA-256/);
    expect(warnings.join("\n")).toMatch(/missing from the repository/);
  });

  it("never replaces what stands at the name in a fresh directory, and leaves it as it was", async () => {
    const blobs = new Blobs();
    const { writer } = writerFor(blobs, batch);
    const path = join(base, "taken");
    await fsp.writeFile(path, "mine");
    const entry = fileEntry(blobs, ["theirs"]);
    expect(await writer.write(entry, Buffer.from(path), true)).toBe(false);
    expect(await fsp.readFile(path, "utf8")).toBe("mine");
    expect(warnings.join("\n")).toMatch(/EEXIST/);
  });

  it("still writes under a temporary name in a directory that existed before, and when a file has more blobs than it holds at once", async () => {
    const blobs = new Blobs();
    const { writer, target } = writerFor(blobs, batch);
    const existing = fileEntry(blobs, ["old dir"]);
    expect(
      await writer.write(existing, Buffer.from(join(base, "a")), false),
    ).toBe(true);
    const many = fileEntry(blobs, ["1", "2", "3", "4", "5"]);
    expect(await writer.write(many, Buffer.from(join(base, "b")), true)).toBe(
      true,
    );
    expect(target.temporaryNames).toBe(2);
    expect(await fsp.readFile(join(base, "b"), "utf8")).toBe("12345");
    expect((await fsp.readdir(base)).sort()).toEqual(["a", "b"]);
  });
});
