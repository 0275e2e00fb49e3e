import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  chunkBuffer,
  gearTableFromKey,
  type ChunkerParams,
} from "../../chunker/index.js";
import { keyedId } from "../../crypto/index.js";
import { toHex } from "../../util/bytes.js";
import { ChunkStream, type Chunk } from "./chunk-stream.js";

const gear = gearTableFromKey(new Uint8Array(32).fill(7));
const params: ChunkerParams = { minSize: 256, avgSize: 1024, maxSize: 4096 };
// Any 32 bytes: the stream only needs a keyed id function.
const fixedKey = new Uint8Array(32).fill(9);
const idOf = (plaintext: Uint8Array): Uint8Array =>
  keyedId(fixedKey, plaintext);

describe("ChunkStream", () => {
  it("gives the chunker's cut points, each chunk's keyed id and the size, however the bytes arrive", () => {
    const data = randomBytes(50_000);
    const lengths = chunkBuffer(gear, params, data);
    expect(lengths.length).toBeGreaterThan(10);
    for (const pieceSize of [1000, 4096, 7777, data.length]) {
      const stream = new ChunkStream(gear, params, idOf);
      const chunks: { id: string; bytes: string }[] = [];
      // Views are copied at once: they are valid only until the next push.
      const take = (taken: Chunk[]): void => {
        for (const { id, view } of taken)
          chunks.push({ id: toHex(id), bytes: toHex(view) });
      };
      for (let offset = 0; offset < data.length; offset += pieceSize)
        take(stream.push(data.subarray(offset, offset + pieceSize)));
      take(stream.finish().chunks);

      expect(stream.size).toBe(data.length);
      let offset = 0;
      expect(chunks.map((chunk) => chunk.bytes.length / 2)).toEqual(lengths);
      for (const chunk of chunks) {
        const bytes = data.subarray(offset, offset + chunk.bytes.length / 2);
        expect(chunk.bytes).toBe(toHex(bytes));
        expect(chunk.id).toBe(toHex(idOf(bytes)));
        offset += bytes.length;
      }
    }
  });

  it("an empty file has no chunks", () => {
    const stream = new ChunkStream(gear, params, idOf);
    expect(stream.finish().chunks).toEqual([]);
    expect(stream.size).toBe(0);
  });
});
