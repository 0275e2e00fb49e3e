import {
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { native } from "../../util/native.js";
import {
  readListingInNode,
  readPackedListing,
  unpackListing,
  type EntryStat,
  type PackedListing,
} from "./listing.js";

const FIELDS = [
  "mode",
  "nlink",
  "uid",
  "gid",
  "size",
  "ino",
  "dev",
  "mtimeNs",
  "ctimeNs",
] as const;

function fieldsOf(stat: EntryStat) {
  return {
    ...Object.fromEntries(FIELDS.map((field) => [field, stat[field]])),
    isDirectory: stat.isDirectory(),
    isFile: stat.isFile(),
    isSymbolicLink: stat.isSymbolicLink(),
  };
}

describe("directory listings for the backup walk", () => {
  let root: string;
  let dir: Buffer;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "blindsync-listing-"));
    dir = Buffer.from(join(root, "d"));
    mkdirSync(join(root, "d"));
    writeFileSync(join(root, "d", "b-file"), "hello");
    writeFileSync(join(root, "d", "a-empty"), "");
    // An mtime apart from the ctime, so the two fields cannot be confused.
    utimesSync(join(root, "d", "a-empty"), 1_000_000_000, 1_000_000_000.5);
    mkdirSync(join(root, "d", "sub"));
    symlinkSync("/nowhere", join(root, "d", "dangling"));
    linkSync(join(root, "d", "b-file"), join(root, "d", "hard"));
    execFileSync("mkfifo", [join(root, "d", "fifo")]);
    // A name that is not UTF-8 and one with a newline: bytes must survive as bytes.
    writeFileSync(
      Buffer.concat([dir, Buffer.from("/caf\xe9", "latin1")]),
      "latin1",
    );
    writeFileSync(join(root, "d", "new\nline"), "x");
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  function expectMatchesLstat(packed: PackedListing): void {
    const listing = unpackListing(dir, packed);
    const names = listing.names.map((name) => name.toString("latin1"));
    expect(names).toEqual(
      [...names].sort((a, b) =>
        Buffer.compare(Buffer.from(a, "latin1"), Buffer.from(b, "latin1")),
      ),
    );
    expect(names).toHaveLength(8);
    expect(names).toContain("caf\xe9");
    for (const [index, name] of listing.names.entries()) {
      const stat = listing.stats[index];
      if (stat === undefined || stat instanceof Error)
        throw new Error(`no stat for ${name.toString("latin1")}`);
      const expected = lstatSync(Buffer.concat([dir, Buffer.from("/"), name]), {
        bigint: true,
      });
      expect(fieldsOf(stat), name.toString("latin1")).toEqual(
        fieldsOf(expected),
      );
    }
  }

  it("the native addon's listing has every child with the fields lstat gives", () => {
    expect(native).toBeDefined();
    const packed = native?.listDirectory(dir);
    if (packed === undefined || packed === null) throw new Error("no listing");
    expectMatchesLstat(packed);
    expect(readPackedListing(dir).names).toEqual(packed.names);
  });

  it("the listing through Node is the same, byte for byte", () => {
    const fromNode = readListingInNode(dir);
    expectMatchesLstat(fromNode);
    const fromAddon = readPackedListing(dir);
    expect(Buffer.from(fromNode.stats.buffer)).toEqual(
      Buffer.from(fromAddon.stats.buffer),
    );
    expect([...fromNode.ends]).toEqual([...fromAddon.ends]);
  });

  it("a directory that cannot be listed throws Node's own error", () => {
    expect(
      native?.listDirectory(Buffer.from(join(root, "missing"))),
    ).toBeNull();
    expect(() => readPackedListing(Buffer.from(join(root, "missing")))).toThrow(
      /ENOENT/,
    );
    expect(() =>
      readPackedListing(Buffer.from(join(root, "d", "b-file"))),
    ).toThrow(/ENOTDIR/);
  });

  it("a child whose lstat failed is asked again, and keeps Node's error", () => {
    const packed = readPackedListing(dir);
    const index = unpackListing(dir, packed).names.findIndex(
      (name) => name.toString() === "b-file",
    );
    // As if the file had gone between readdir and lstat: unpacking asks again.
    const gone: PackedListing = {
      ...packed,
      errors: packed.errors.map((_, i) => (i === index ? 2 : 0)),
    };
    rmSync(join(root, "d", "b-file"));
    const stat = unpackListing(dir, gone).stats[index];
    expect(stat).toBeInstanceOf(Error);
    expect((stat as NodeJS.ErrnoException).code).toBe("ENOENT");
  });

  it("keeps unsigned fields above 2^63 and times before 1970", () => {
    const stats = new BigInt64Array(9);
    stats.set([0o100644n, 1n, 0n, 0n, 5n, -2n, -1n, -5_000_000_000n, 7n]);
    const listing = unpackListing(dir, {
      names: Buffer.from("x"),
      ends: new Uint32Array([1]),
      stats,
      errors: new Int32Array(1),
    });
    const stat = listing.stats[0] as EntryStat;
    expect(stat.ino).toBe(2n ** 64n - 2n);
    expect(stat.dev).toBe(2n ** 64n - 1n);
    expect(stat.mtimeNs).toBe(-5_000_000_000n);
    expect(stat.isFile()).toBe(true);
  });
});
