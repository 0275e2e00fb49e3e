/** Writing file content so that zero blocks become holes: a sparse file stays sparse. */
import { write, writeSync } from "node:fs";

/** Sparse detection granularity: zero runs of this size, aligned in the file, become holes. */
export const HOLE_BLOCK = 64 * 1024;
const ZERO_BLOCK = Buffer.alloc(HOLE_BLOCK);

function isZero(bytes: Buffer, start: number, end: number): boolean {
  return bytes.subarray(start, end).equals(ZERO_BLOCK.subarray(0, end - start));
}

/** True for a non-empty buffer of at most HOLE_BLOCK bytes that holds only zeros: one hole. */
export function isAllZero(bytes: Buffer): boolean {
  return (
    bytes.length > 0 &&
    bytes.length <= HOLE_BLOCK &&
    isZero(bytes, 0, bytes.length)
  );
}

/**
 * The runs of `chunk` (offsets into it, [start, end)) to write when it lands at `position`:
 * every HOLE_BLOCK-aligned block of the file that is all zero is left out.
 */
function dataRuns(chunk: Buffer, position: number): [number, number][] {
  const runs: [number, number][] = [];
  let runStart = -1;
  let offset = 0;
  while (offset < chunk.length) {
    const blockEnd = Math.min(
      chunk.length,
      (Math.floor((position + offset) / HOLE_BLOCK) + 1) * HOLE_BLOCK -
        position,
    );
    if (isZero(chunk, offset, blockEnd)) {
      if (runStart >= 0) runs.push([runStart, offset]);
      runStart = -1;
    } else if (runStart < 0) {
      runStart = offset;
    }
    offset = blockEnd;
  }
  if (runStart >= 0) runs.push([runStart, chunk.length]);
  return runs;
}

/** The file offset just past the last run, or `position` when there is none (all holes). */
function endOf(runs: readonly [number, number][], position: number): number {
  const last = runs[runs.length - 1];
  return last === undefined ? position : position + last[1];
}

function writeAll(
  fd: number,
  bytes: Buffer,
  start: number,
  end: number,
  position: number,
): void {
  let offset = start;
  while (offset < end) {
    const bytesWritten = writeSync(
      fd,
      bytes,
      offset,
      end - offset,
      position + offset - start,
    );
    if (bytesWritten <= 0) throw new Error("the file system accepted no bytes");
    offset += bytesWritten;
  }
}

/**
 * Writes `chunk` at `position`, skipping every HOLE_BLOCK-aligned block that is all zero, so a
 * sparse file stays sparse (the caller's final ftruncate sets the size when the file ends in a
 * hole). Returns the file offset just past the last byte written, or `position` when all was
 * holes.
 */
export function writeSparse(
  fd: number,
  chunk: Buffer,
  position: number,
): number {
  const runs = dataRuns(chunk, position);
  for (const [start, end] of runs)
    writeAll(fd, chunk, start, end, position + start);
  return endOf(runs, position);
}

function writeInPool(
  fd: number,
  bytes: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    write(fd, bytes, offset, length, position, (error, bytesWritten) => {
      if (error === null) resolve(bytesWritten);
      else reject(error);
    });
  });
}

/**
 * writeSparse on a thread of the libuv pool: the same runs and the same answer, but the copy
 * into the page cache (about 1 s of CPU per GiB here) runs beside the main thread, which opens
 * and hashes the next blob meanwhile (docs/performance.md, "Restore CPU, round three").
 * `chunk` must stay unchanged until the promise settles, and so must `fd` stay open.
 */
export async function writeSparseInPool(
  fd: number,
  chunk: Buffer,
  position: number,
): Promise<number> {
  const runs = dataRuns(chunk, position);
  for (const [start, end] of runs) {
    let offset = start;
    while (offset < end) {
      const bytesWritten = await writeInPool(
        fd,
        chunk,
        offset,
        end - offset,
        position + offset,
      );
      if (bytesWritten <= 0)
        throw new Error("the file system accepted no bytes");
      offset += bytesWritten;
    }
  }
  return endOf(runs, position);
}
