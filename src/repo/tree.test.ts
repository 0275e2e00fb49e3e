import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { testDeriver } from "../../test/helpers/checksum-deriver.js";
import { isBlindsyncError } from "../errors.js";
import {
  decodeTree,
  encodeTree,
  isOwnerName,
  isSafeName,
  sortEntries,
  TREE_FORMAT_V1,
  TREE_FORMAT_V2,
  TREE_FORMAT_V3,
  TREE_FORMAT_V4,
  TREE_FORMAT_VERSION,
  MAX_INLINE_BYTES,
  type FileEntry,
  type Tree,
  type TreeEntry,
} from "./tree.js";
import { settledChecksum } from "./file-checksum.js";

const id = (byte: number): Uint8Array => new Uint8Array(32).fill(byte);
/** A string's bytes as decodeTree gives them back: a Uint8Array, not a Buffer. */
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text));

/**
 * A file entry named "f", owned by root, mode 0, at the epoch, with `fields` on top (either
 * content kind: the caller gives blob ids or inline bytes, hence the one cast).
 */
const fileEntry = (fields: Partial<FileEntry>): FileEntry =>
  ({
    name: new Uint8Array(Buffer.from("f")),
    type: "file",
    mode: 0,
    mtimeNs: 0n,
    uid: 0,
    gid: 0,
    size: 0,
    checksum: { kind: "chunk-ids", digest: id(1) },
    content: [],
    ...fields,
  }) as FileEntry;

/**
 * The entry as a format-5 tree gives it back: a checksum over chunk ids is the one derived
 * from its own size and content (whatever digest it held), a SHA-256 stays.
 */
function derivedFor<T extends TreeEntry>(entry: T): T {
  if (entry.type !== "file" || entry.checksum.kind !== "chunk-ids")
    return entry;
  const ids =
    entry.inline === undefined
      ? entry.content
      : [testDeriver.blobId(entry.inline)];
  return { ...entry, checksum: testDeriver.fileChecksum(entry.size, ids) };
}

/** A decoded tree with every checksum a plain record (a derived one's digest is a getter). */
const settled = (tree: Tree): Tree => ({
  entries: tree.entries.map((entry) =>
    entry.type === "file"
      ? { ...entry, checksum: settledChecksum(entry.checksum) }
      : entry,
  ),
});

const nameArbitrary = fc
  .uint8Array({ minLength: 1, maxLength: 40 })
  .filter((name) => isSafeName(name));

const ownerNameArbitrary = fc
  .string({ minLength: 1, maxLength: 12 })
  .filter((name) => isOwnerName(name));
/** Owner names as a backup leaves them: each present or absent. */
const namesArbitrary = fc.record(
  { user: ownerNameArbitrary, group: ownerNameArbitrary },
  { requiredKeys: [] },
);

const plainEntryArbitrary: fc.Arbitrary<TreeEntry> = fc.oneof(
  fc.record({
    name: nameArbitrary,
    type: fc.constant("file" as const),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    mtimeNs: fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }),
    uid: fc.nat(),
    gid: fc.nat(),
    size: fc.nat(),
    checksum: fc.record({
      kind: fc.constantFrom("sha256" as const, "chunk-ids" as const),
      digest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    }),
    content: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), {
      maxLength: 5,
    }),
  }),
  fc
    .record({
      name: nameArbitrary,
      type: fc.constant("file" as const),
      mode: fc.integer({ min: 0, max: 0o7777 }),
      mtimeNs: fc.bigInt({ min: 0n, max: 2n ** 62n }),
      uid: fc.nat(),
      gid: fc.nat(),
      checksum: fc.record({
        kind: fc.constant("chunk-ids" as const),
        digest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      }),
      inline: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    })
    .map((file) => ({
      ...file,
      size: file.inline.length,
      content: [] as const,
    })),
  fc.record({
    name: nameArbitrary,
    type: fc.constant("dir" as const),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    mtimeNs: fc.bigInt({ min: 0n, max: 2n ** 62n }),
    uid: fc.nat(),
    gid: fc.nat(),
    subtree: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  }),
  fc.record({
    name: nameArbitrary,
    type: fc.constant("symlink" as const),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    mtimeNs: fc.bigInt({ min: 0n, max: 2n ** 62n }),
    uid: fc.nat(),
    gid: fc.nat(),
    target: fc
      .uint8Array({ minLength: 1, maxLength: 100 })
      .filter((target) => !target.includes(0)),
  }),
);

const fifoArbitrary: fc.Arbitrary<TreeEntry> = fc.record({
  name: nameArbitrary,
  type: fc.constant("fifo" as const),
  mode: fc.integer({ min: 0, max: 0o7777 }),
  mtimeNs: fc.bigInt({ min: 0n, max: 2n ** 62n }),
  uid: fc.nat(),
  gid: fc.nat(),
});

const entryArbitrary: fc.Arbitrary<TreeEntry> = fc
  .tuple(fc.oneof(plainEntryArbitrary, fifoArbitrary), namesArbitrary)
  .map(([entry, names]) => ({ ...entry, ...names }));

const treeArbitrary = fc
  .uniqueArray(entryArbitrary, {
    selector: (entry) => Buffer.from(entry.name).toString("hex"),
    maxLength: 20,
  })
  .map((entries) => ({ entries: sortEntries(entries) }));

describe("tree codec", () => {
  it("decodeTree(encodeTree(tree)) returns the same tree, its checksums over chunk ids derived", () => {
    fc.assert(
      fc.property(treeArbitrary, (random) => {
        const tree = { entries: random.entries.map(derivedFor) };
        const bytes = encodeTree(tree);
        const decoded = decodeTree(bytes, testDeriver);
        expect(settled(decoded)).toEqual(tree);
        expect(Buffer.from(encodeTree(decoded)).equals(bytes)).toBe(true);
      }),
    );
  });

  it("reads format 4 trees with their stored checksums as they were written", () => {
    fc.assert(
      fc.property(treeArbitrary, (tree) => {
        const bytes = encodeTree(tree, TREE_FORMAT_V4);
        expect(bytes[0]).toBe(TREE_FORMAT_V4);
        const decoded = decodeTree(bytes, testDeriver);
        expect(decoded).toEqual(tree);
        const again = encodeTree(decoded, TREE_FORMAT_V4);
        expect(Buffer.from(again).equals(bytes)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it("writes a checksum over chunk ids as derived in format 5: kind code 3 and no digest", () => {
    const blobs = derivedFor(
      fileEntry({ name: bytes("b"), size: 9, content: [id(5), id(6)] }),
    );
    const inline = derivedFor(
      fileEntry({ name: bytes("i"), size: 2, inline: bytes("hi") }),
    );
    const sha256 = fileEntry({
      name: bytes("s"),
      size: 1,
      checksum: { kind: "sha256", digest: id(7) },
      content: [id(8)],
    });
    const entries = [blobs, inline, sha256];
    const v5 = Buffer.from(encodeTree({ entries }));
    const v4 = Buffer.from(encodeTree({ entries }, TREE_FORMAT_V4));
    expect(v5[0]).toBe(5);
    // 32 bytes fewer for each of the two checksums over chunk ids, the SHA-256 kept.
    expect(v5.length).toBe(v4.length - 2 * 32);
    expect(v4.indexOf(Buffer.from(blobs.checksum.digest))).toBeGreaterThan(0);
    expect(v5.indexOf(Buffer.from(blobs.checksum.digest))).toBe(-1);
    expect(v5.indexOf(Buffer.from(inline.checksum.digest))).toBe(-1);
    expect(v5.indexOf(id(7))).toBeGreaterThan(0);
    // The kind byte follows the size, as in formats 3 and 4.
    const sizeAt = 1 + 4 + 2 + 1 + 1 + 4 + 8 + 4 + 4 + 1 + 1;
    expect(v5.readBigUInt64BE(sizeAt)).toBe(9n);
    expect(v5[sizeAt + 8]).toBe(3);
    expect(v4[sizeAt + 8]).toBe(2);
    const decoded = decodeTree(v5, testDeriver).entries as FileEntry[];
    expect(decoded.map((entry) => entry.checksum.derived)).toEqual([
      true,
      true,
      undefined,
    ]);
    expect(settled({ entries: decoded })).toEqual({ entries });
    // The same entries read from format 4 hold the same digests, stored.
    const fromV4 = decodeTree(v4, testDeriver).entries as FileEntry[];
    expect(fromV4.map((entry) => entry.checksum.digest)).toEqual(
      decoded.map((entry) => entry.checksum.digest),
    );
  });

  it("decodeTree() refuses a stored checksum over chunk ids in format 5 and derived before it", () => {
    const file = derivedFor(fileEntry({ size: 1, content: [id(8)] }));
    const sizeAt = 1 + 4 + 2 + 1 + 1 + 4 + 8 + 4 + 4 + 1 + 1;
    // A format-4 tree relabelled 5: kind 2 has one encoding there (derived), so it is damage.
    const stored = Buffer.from(encodeTree({ entries: [file] }, TREE_FORMAT_V4));
    stored[0] = TREE_FORMAT_VERSION;
    expect(() => decodeTree(stored, testDeriver)).toThrow(
      /unknown file checksum kind 2/,
    );
    // A format-5 tree relabelled 4 or 3: derived is no kind of theirs.
    for (const version of [TREE_FORMAT_V4, TREE_FORMAT_V3]) {
      const older = Buffer.from(encodeTree({ entries: [file] }));
      older[0] = version;
      expect(() => decodeTree(older, testDeriver)).toThrow(
        /unknown file checksum kind 3/,
      );
    }
    // Any other code is damage too, and every refusal an integrity error.
    const unknown = Buffer.from(encodeTree({ entries: [file] }));
    unknown[sizeAt + 8] = 9;
    let refusal: unknown;
    try {
      decodeTree(unknown, testDeriver);
    } catch (error) {
      refusal = error;
    }
    expect(isBlindsyncError(refusal, "integrity")).toBe(true);
  });

  it("derives a checksum on first use only, under the deriver it was decoded with", () => {
    let macs = 0;
    const counting = {
      blobId: (plaintext: Uint8Array) => testDeriver.blobId(plaintext),
      fileChecksum: (size: number, content: readonly Uint8Array[]) => {
        macs++;
        return testDeriver.fileChecksum(size, content);
      },
    };
    const file = derivedFor(fileEntry({ size: 1, content: [id(8)] }));
    const [decoded] = decodeTree(encodeTree({ entries: [file] }), counting)
      .entries as FileEntry[];
    expect(macs).toBe(0);
    expect(decoded?.checksum.digest).toEqual(file.checksum.digest);
    expect(decoded?.checksum.digest).toEqual(file.checksum.digest);
    expect(macs).toBe(1);
  });

  it("encodes the same directory to the same bytes every time", () => {
    fc.assert(
      fc.property(treeArbitrary, (tree) => {
        const shuffled = { entries: sortEntries([...tree.entries].reverse()) };
        expect(Buffer.from(encodeTree(shuffled)).equals(encodeTree(tree))).toBe(
          true,
        );
      }),
    );
  });

  it("keeps a hardlink key through a round trip", () => {
    const file: TreeEntry = {
      name: new Uint8Array(Buffer.from("a")),
      type: "file",
      mode: 0o644,
      mtimeNs: 1n,
      uid: 0,
      gid: 0,
      size: 3,
      checksum: { kind: "chunk-ids", digest: id(1) },
      content: [id(2)],
      hardlink: { dev: 5n, ino: 77n },
    };
    const decoded = decodeTree(encodeTree({ entries: [file] }), testDeriver);
    expect(settled(decoded).entries[0]).toEqual(derivedFor(file));
  });

  it("reads format 1 trees (no owner names), as older repositories hold them", () => {
    const file: TreeEntry = {
      name: new Uint8Array(Buffer.from("old.txt")),
      type: "file",
      mode: 0o640,
      mtimeNs: 5n,
      uid: 1000,
      gid: 100,
      size: 0,
      checksum: { kind: "sha256", digest: id(1) },
      content: [],
    };
    const bytes = encodeTree({ entries: [file] }, TREE_FORMAT_V1);
    expect(bytes[0]).toBe(1);
    const [decoded] = decodeTree(bytes, testDeriver).entries;
    expect(decoded).toEqual(file);
    expect(decoded).not.toHaveProperty("user");
    // Format 2 of the same entry is two bytes longer per entry: the two empty name lengths;
    // format 3 one more: the checksum's kind.
    const v2 = encodeTree({ entries: [file] }, TREE_FORMAT_V2);
    expect(v2.length).toBe(bytes.length + 2);
    expect(decodeTree(v2, testDeriver).entries[0]).toEqual(file);
    // format 3 one more: the checksum's kind; format 4 one more: the content kind.
    expect(encodeTree({ entries: [file] }).length).toBe(bytes.length + 4);
  });

  it("records a file checksum's kind in format 3 only: older formats hold SHA-256s alone", () => {
    const file = fileEntry({
      mode: 0o600,
      size: 1,
      checksum: { kind: "chunk-ids", digest: id(7) },
      content: [id(8)],
    });
    const v3 = Buffer.from(encodeTree({ entries: [file] }, TREE_FORMAT_V3));
    expect(v3[0]).toBe(3);
    expect(decodeTree(v3, testDeriver).entries[0]).toEqual(file);
    for (const version of [TREE_FORMAT_V1, TREE_FORMAT_V2] as const)
      expect(() => encodeTree({ entries: [file] }, version)).toThrow(
        /SHA-256 checksums only/,
      );
    // The kind byte follows the size: an unknown kind is damage, not a guess.
    const kindAt = v3.indexOf(id(7)) - 1;
    expect(v3[kindAt]).toBe(2);
    v3[kindAt] = 9;
    expect(() => decodeTree(v3, testDeriver)).toThrow(
      /unknown file checksum kind/,
    );
  });

  it("keeps owner and group names and fifos, which format 1 cannot hold", () => {
    const fifo: TreeEntry = {
      name: new Uint8Array(Buffer.from("pipe")),
      type: "fifo",
      mode: 0o620,
      mtimeNs: 9n,
      uid: 1000,
      gid: 100,
      user: "alice",
      group: "users",
    };
    expect(
      decodeTree(encodeTree({ entries: [fifo] }), testDeriver).entries[0],
    ).toEqual(fifo);
    expect(() => encodeTree({ entries: [fifo] }, TREE_FORMAT_V1)).toThrow(
      RangeError,
    );
    // Type 4 inside a format 1 tree is refused as damage, like any unknown type.
    const v2 = Buffer.from(
      encodeTree({ entries: [{ ...fifo, user: undefined, group: undefined }] }),
    );
    const v1 = Buffer.concat([v2.subarray(0, -2)]);
    v1[0] = TREE_FORMAT_V1;
    expect(() => decodeTree(v1, testDeriver)).toThrow(/unknown entry type 4/);
  });

  it.each([
    ["empty", ""],
    ["a colon", "a:b"],
    ["a newline", "a\nb"],
    ["an escape sequence", "\u001b[31m"],
    ["a C1 control", "a\u009bb"],
    ["256 bytes", "x".repeat(256)],
  ])("isOwnerName() refuses %s, and the encoder with it", (_label, name) => {
    expect(isOwnerName(name)).toBe(false);
    expect(() =>
      encodeTree({
        entries: [
          {
            name: Buffer.from("a"),
            type: "dir",
            mode: 0,
            mtimeNs: 0n,
            uid: 0,
            gid: 0,
            user: name,
            subtree: id(1),
          },
        ],
      }),
    ).toThrow(RangeError);
  });

  it("keeps a small file's bytes inline from format 4 on, after a content kind byte", () => {
    const inline = fileEntry({
      name: new Uint8Array(Buffer.from("small")),
      mode: 0o644,
      mtimeNs: 3n,
      size: 5,
      checksum: { kind: "chunk-ids", digest: id(4) },
      inline: new Uint8Array(Buffer.from("hello")),
      hardlink: { dev: 1n, ino: 2n },
    });
    const bytes = Buffer.from(
      encodeTree({ entries: [inline] }, TREE_FORMAT_V4),
    );
    expect(bytes[0]).toBe(TREE_FORMAT_V4);
    // The content kind (1), the length (u32) and the bytes end the entry.
    expect(bytes.subarray(-10)).toEqual(
      Buffer.concat([Buffer.from([1, 0, 0, 0, 5]), Buffer.from("hello")]),
    );
    const decoded = decodeTree(bytes, testDeriver).entries[0] as FileEntry;
    expect(decoded).toEqual(inline);
    // A view of the tree's bytes, as names and ids are.
    expect(decoded.inline?.buffer).toBe(bytes.buffer);
    // A file of blob ids carries content kind 0 before its count.
    const blobs = Buffer.from(
      encodeTree({
        entries: [{ ...inline, inline: undefined, content: [id(9)] }],
      }),
    );
    expect(blobs[0]).toBe(TREE_FORMAT_VERSION);
    expect(blobs.subarray(-37, -32)).toEqual(Buffer.from([0, 0, 0, 0, 1]));
  });

  it("decodeTree() refuses an inline file whose length is not its size, empty or too long", () => {
    const file = (size: number, bytes: number): FileEntry =>
      fileEntry({ size, inline: new Uint8Array(bytes).fill(0x61) });
    const valid = Buffer.from(encodeTree({ entries: [file(3, 3)] }));
    // The size u64 follows the name, the type, mode, mtime, uid, gid and the two empty names.
    const sizeAt = 1 + 4 + 2 + 1 + 1 + 4 + 8 + 4 + 4 + 1 + 1;
    expect(valid.readBigUInt64BE(sizeAt)).toBe(3n);
    const lengthAt = valid.length - 3 - 4;
    const lying = (edit: (bytes: Buffer) => void): Buffer => {
      const copy = Buffer.from(valid);
      edit(copy);
      return copy;
    };
    // Size 4, three bytes inline: the length differs from the size.
    expect(() =>
      decodeTree(
        lying((bytes) => bytes.writeBigUInt64BE(4n, sizeAt)),
        testDeriver,
      ),
    ).toThrow(/inline file's length differs from its size/);
    // Length 2 with size 3: the same, whatever follows.
    expect(() =>
      decodeTree(
        lying((bytes) => bytes.writeUInt32BE(2, lengthAt)),
        testDeriver,
      ),
    ).toThrow(/malformed/);
    // An empty inline file: an empty file's one encoding is no blob ids.
    const empty = Buffer.concat([
      lying((bytes) => {
        bytes.writeBigUInt64BE(0n, sizeAt);
        bytes.writeUInt32BE(0, lengthAt);
      }).subarray(0, lengthAt + 4),
    ]);
    expect(() => decodeTree(empty, testDeriver)).toThrow(
      /inline file length out of range/,
    );
    // Past the format's limit, even with a matching size.
    const big = MAX_INLINE_BYTES + 1;
    const tooLong = Buffer.concat([
      lying((bytes) => {
        bytes.writeBigUInt64BE(BigInt(big), sizeAt);
        bytes.writeUInt32BE(big, lengthAt);
      }).subarray(0, lengthAt + 4),
      Buffer.alloc(big, 0x61),
    ]);
    expect(() => decodeTree(tooLong, testDeriver)).toThrow(
      /inline file length out of range/,
    );
    // An unknown content kind is damage too.
    expect(() =>
      decodeTree(
        lying((bytes) => (bytes[lengthAt - 1] = 2)),
        testDeriver,
      ),
    ).toThrow(/unknown file content kind 2/);
    // The encoder refuses what the decoder would.
    expect(() => encodeTree({ entries: [file(4, 3)] })).toThrow(RangeError);
    expect(() => encodeTree({ entries: [file(big, big)] })).toThrow(RangeError);
    expect(() => encodeTree({ entries: [file(3, 3)] }, TREE_FORMAT_V3)).toThrow(
      /no inline files/,
    );
  });

  it("reads format 3 trees (no content kind) as older repositories hold them", () => {
    const file = fileEntry({
      mode: 0o600,
      size: 1,
      checksum: { kind: "chunk-ids", digest: id(7) },
      content: [id(8)],
    });
    const v3 = encodeTree({ entries: [file] }, TREE_FORMAT_V3);
    expect(v3[0]).toBe(3);
    expect(v3.length).toBe(
      encodeTree({ entries: [file] }, TREE_FORMAT_V4).length - 1,
    );
    expect(decodeTree(v3, testDeriver).entries[0]).toEqual(file);
  });

  it("decodeTree() refuses an owner name with a control character as damage", () => {
    const bytes = Buffer.from(
      encodeTree({
        entries: [
          {
            name: Buffer.from("a"),
            type: "dir",
            mode: 0,
            mtimeNs: 0n,
            uid: 0,
            gid: 0,
            user: "bob",
            subtree: id(1),
          },
        ],
      }),
    );
    // version, count, name length and name, type, mode, mtime, uid, gid, then the user's length.
    const userAt = 1 + 4 + 2 + 1 + 1 + 4 + 8 + 4 + 4 + 1;
    expect(bytes.subarray(userAt, userAt + 3).toString()).toBe("bob");
    bytes[userAt + 1] = 0x1b;
    expect(() => decodeTree(bytes, testDeriver)).toThrow(/owner name/);
  });

  it("decodeTree() returns names, checksums and ids as views of the tree's bytes, not copies", () => {
    const base = { mode: 0o644, mtimeNs: 1n, uid: 0, gid: 0 };
    const entries: TreeEntry[] = [
      {
        ...base,
        name: new Uint8Array(Buffer.from("d")),
        type: "dir",
        subtree: id(3),
      },
      {
        ...base,
        name: new Uint8Array(Buffer.from("f")),
        type: "file",
        size: 1,
        checksum: { kind: "sha256", digest: id(1) },
        content: [id(2)],
      },
      {
        ...base,
        name: new Uint8Array(Buffer.from("l")),
        type: "symlink",
        target: id(4),
      },
    ];
    const encoded = encodeTree({ entries });
    // The plaintext inside a larger buffer, at an offset, as an opened blob may be.
    const outer = new Uint8Array(encoded.length + 14).fill(0xff);
    outer.set(encoded, 7);
    const plaintext = outer.subarray(7, 7 + encoded.length);
    const decoded = decodeTree(plaintext, testDeriver).entries;
    expect(decoded).toEqual(entries);
    const [dir, file, link] = decoded;
    if (
      dir?.type !== "dir" ||
      file?.type !== "file" ||
      link?.type !== "symlink"
    )
      throw new Error("unexpected entry types");
    for (const bytes of [
      dir.name,
      dir.subtree,
      file.name,
      file.checksum.digest,
      file.content[0],
      link.target,
    ])
      expect(bytes?.buffer).toBe(outer.buffer);
  });

  it("decodeTree() reuses an owner name it decoded but checks every different one", () => {
    const dir = (name: string, user: string, group: string): TreeEntry => ({
      name: new Uint8Array(Buffer.from(name)),
      type: "dir",
      mode: 0,
      mtimeNs: 0n,
      uid: 0,
      gid: 0,
      user,
      group,
      subtree: id(1),
    });
    const entries = [
      dir("a", "alice", "users"),
      dir("b", "alice", "users"),
      dir("c", "alicf", "users"),
      dir("d", "bob", "staff"),
      dir("e", "alice", "users"),
    ];
    expect(decodeTree(encodeTree({ entries }), testDeriver).entries).toEqual(
      entries,
    );
    // The second entry's user, the same length as the first's, made hostile: still refused.
    const bytes = Buffer.from(
      encodeTree({ entries: [dir("a", "bob", "x"), dir("b", "bob", "x")] }),
    );
    const second = bytes.lastIndexOf("bob");
    expect(second).toBeGreaterThan(bytes.indexOf("bob"));
    bytes[second + 1] = 0x1b;
    expect(() => decodeTree(bytes, testDeriver)).toThrow(/owner name/);
  });

  it.each([
    ["empty", ""],
    ["dot", "."],
    ["dot-dot", ".."],
    ["slash", "a/b"],
    ["NUL", "a\u0000b"],
  ])("isSafeName() refuses the %s name", (_label, name) => {
    expect(isSafeName(Buffer.from(name))).toBe(false);
  });

  it('decodeTree() rejects a crafted tree whose entry is named ".."', () => {
    const good = encodeTree({
      entries: [
        {
          name: Buffer.from("xx"),
          type: "dir",
          mode: 0o755,
          mtimeNs: 0n,
          uid: 0,
          gid: 0,
          subtree: id(3),
        },
      ],
    });
    const crafted = Buffer.from(good);
    crafted.write("..", 7, "latin1");
    expect(() => decodeTree(crafted, testDeriver)).toThrow(/unsafe name/);
  });

  it("decodeTree() rejects unsorted entries and trailing bytes", () => {
    const one = (name: string) =>
      encodeTree({
        entries: [
          {
            name: Buffer.from(name),
            type: "dir",
            mode: 0,
            mtimeNs: 0n,
            uid: 0,
            gid: 0,
            subtree: id(1),
          },
        ],
      });
    const b = Buffer.from(one("b")).subarray(5);
    const a = Buffer.from(one("a")).subarray(5);
    const header = Buffer.from([TREE_FORMAT_VERSION, 0, 0, 0, 2]);
    expect(() =>
      decodeTree(Buffer.concat([header, b, a]), testDeriver),
    ).toThrow(/sorted/);
    expect(() =>
      decodeTree(Buffer.concat([one("a"), Buffer.from([0])]), testDeriver),
    ).toThrow(/trailing/);
  });

  it("decodeTree() answers random bytes only with integrity errors", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeTree(bytes, testDeriver);
        } catch (error) {
          expect(isBlindsyncError(error, "integrity")).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("decodeTree() answers every truncation of a valid tree with an integrity error", () => {
    fc.assert(
      fc.property(
        treeArbitrary.filter((tree) => tree.entries.length > 0),
        (tree) => {
          const bytes = encodeTree(tree);
          for (
            let cut = 0;
            cut < bytes.length;
            cut += Math.max(1, Math.floor(bytes.length / 50))
          ) {
            expect(() =>
              decodeTree(bytes.subarray(0, cut), testDeriver),
            ).toThrow(/malformed/);
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});
