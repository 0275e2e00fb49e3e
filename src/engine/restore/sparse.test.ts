import { closeSync, ftruncateSync, openSync, promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HOLE_BLOCK, writeSparse, writeSparseInPool } from "./sparse.js";

let dir: string;

beforeEach(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), "blindsync-sparse-"));
});

afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

type SparseWriter = (
  fd: number,
  chunk: Buffer,
  position: number,
) => number | Promise<number>;

const writers: [string, SparseWriter][] = [
  ["writeSparse()", writeSparse],
  ["writeSparseInPool()", writeSparseInPool],
];

describe.each(writers)("%s", (_, write) => {
  /** Writes `chunks` one after another as restore does, then sets the size; returns the path. */
  async function writeChunks(chunks: readonly Buffer[]): Promise<string> {
    const path = join(dir, "file");
    const fd = openSync(path, "w");
    let position = 0;
    let writtenEnd = 0;
    try {
      for (const chunk of chunks) {
        writtenEnd = await write(fd, chunk, position);
        position += chunk.length;
      }
      if (writtenEnd !== position) ftruncateSync(fd, position);
    } finally {
      closeSync(fd);
    }
    return path;
  }

  it("returns the end of the last byte it wrote, or the start when the chunk is all holes", async () => {
    const path = join(dir, "ends");
    const fd = openSync(path, "w");
    try {
      expect(await write(fd, Buffer.alloc(HOLE_BLOCK * 2), 0)).toBe(0);
      const tail = Buffer.alloc(HOLE_BLOCK * 2);
      tail[10] = 1;
      // Data in the first block only: the second, all zero, is skipped.
      expect(await write(fd, tail, HOLE_BLOCK * 2)).toBe(HOLE_BLOCK * 3);
      expect(await write(fd, Buffer.from("abc"), 5)).toBe(8);
    } finally {
      closeSync(fd);
    }
  });

  it("fails with the file system's error, writing nothing more", async () => {
    const path = join(dir, "read-only");
    closeSync(openSync(path, "w"));
    const fd = openSync(path, "r");
    try {
      await expect(
        (async () => write(fd, Buffer.from("data"), 0))(),
      ).rejects.toThrow(/EBADF/);
    } finally {
      closeSync(fd);
    }
    expect((await fsp.stat(path)).size).toBe(0);
  });

  it("keeps the bytes exact when chunks start off a block boundary and zero runs straddle blocks", async () => {
    const chunks = [
      Buffer.alloc(1000, 7),
      Buffer.alloc(HOLE_BLOCK * 3 + 123),
      Buffer.concat([Buffer.alloc(HOLE_BLOCK - 1), Buffer.from([9])]),
      Buffer.alloc(HOLE_BLOCK * 2),
    ];
    const path = await writeChunks(chunks);
    expect((await fsp.readFile(path)).equals(Buffer.concat(chunks))).toBe(true);
  });

  it("leaves aligned zero blocks as holes, so a mostly-zero file takes little space", async () => {
    const data = Buffer.alloc(HOLE_BLOCK * 64);
    data.fill(1, 0, 100);
    data.fill(2, HOLE_BLOCK * 40, HOLE_BLOCK * 40 + 100);
    const path = await writeChunks([data]);
    const stats = await fsp.stat(path);
    expect(stats.size).toBe(data.length);
    expect((await fsp.readFile(path)).equals(data)).toBe(true);
    // Two data blocks of 64 KiB at most; a file system without holes would hold all 4 MiB.
    expect(stats.blocks * 512).toBeLessThanOrEqual(HOLE_BLOCK * 4);
  });
});
