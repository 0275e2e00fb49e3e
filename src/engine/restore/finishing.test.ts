import { describe, expect, it } from "vitest";
import { testDeriver } from "../../../test/helpers/checksum-deriver.js";
import {
  decodeTree,
  encodeTree,
  type DirEntry,
  type SymlinkEntry,
} from "../../repo/index.js";
import { ByteArena } from "../../util/byte-arena.js";
import { heldEntry } from "./finishing.js";

const base = {
  mode: 0o40755,
  mtimeNs: 1_700_000_000_123_456_789n,
  uid: 1000,
  gid: 1000,
};

describe("entries held until a restore's end", () => {
  it("are copied out of their tree's plaintext, with every field kept", () => {
    const tree = encodeTree({
      entries: [
        {
          ...base,
          type: "dir",
          name: Buffer.from("a-dir"),
          subtree: new Uint8Array(32).fill(7),
        },
        {
          ...base,
          mode: 0o120777,
          type: "symlink",
          name: Buffer.from("b-link"),
          target: Buffer.from("../somewhere"),
        },
      ],
    });
    const [dir, link] = decodeTree(tree, testDeriver).entries as [
      DirEntry,
      SymlinkEntry,
    ];
    // Decoded entries are views of the tree: holding one holds the whole plaintext.
    expect(dir.name.buffer.byteLength).toBe(tree.buffer.byteLength);
    const arena = new ByteArena();
    const heldDir = heldEntry(dir, arena);
    const heldLink = heldEntry(link, arena);
    const plain = (entry: object) =>
      Object.fromEntries(
        Object.entries(entry).map(([key, value]) => [
          key,
          value instanceof Uint8Array ? [...value] : value,
        ]),
      );
    expect(plain(heldDir)).toEqual(plain(dir));
    expect(plain(heldLink)).toEqual(plain(link));
    for (const bytes of [
      heldDir.name,
      heldDir.subtree,
      heldLink.name,
      heldLink.target,
    ])
      expect(bytes.buffer).not.toBe(tree.buffer);
  });
});
