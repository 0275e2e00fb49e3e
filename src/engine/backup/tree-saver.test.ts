import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DerivedChecksum } from "../../repo/file-checksum.js";
import { ByteArena } from "../../util/byte-arena.js";
import { heldContent } from "./tree-saver.js";

describe("a files-cache record held until a checkpoint", () => {
  it("holds its ids and checksum in buffers of their own, not views of a batch's", () => {
    const batch = randomBytes(4096);
    const ids = [batch.subarray(0, 32), batch.subarray(32, 64)];
    const digest = batch.subarray(64, 96);
    const held = heldContent(
      { content: ids, checksum: { kind: "chunk-ids", digest } },
      new ByteArena(),
    );
    expect(held.content.map((id) => Buffer.from(id))).toEqual(
      ids.map((id) => Buffer.from(id)),
    );
    expect(Buffer.from(held.checksum.digest).equals(digest)).toBe(true);
    for (const bytes of [...held.content, held.checksum.digest])
      expect(bytes.buffer).not.toBe(batch.buffer);
    expect(held.checksum.kind).toBe("chunk-ids");
  });

  it("computes a derived checksum now, without holding the bytes it was derived from", () => {
    const bytes = randomBytes(8192).subarray(100, 600);
    const deriver = {
      blobId: (plaintext: Uint8Array) =>
        new Uint8Array(32).fill(plaintext[0] as number),
      fileChecksum: (size: number) => ({
        kind: "chunk-ids" as const,
        digest: new Uint8Array(32).fill(size % 256),
      }),
    };
    const derived = new DerivedChecksum(deriver, bytes.length, bytes);
    const held = heldContent(
      { content: [], checksum: derived },
      new ByteArena(),
    );
    expect(held.checksum).not.toBeInstanceOf(DerivedChecksum);
    expect(Buffer.from(held.checksum.digest)).toEqual(
      Buffer.from(derived.digest),
    );
    expect(held.checksum.digest.buffer).not.toBe(bytes.buffer);
  });
});
