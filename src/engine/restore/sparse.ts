/** Writing file content so that zero blocks become holes: a sparse file stays sparse. */
import { writeSync } from "node:fs";

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
  let writtenEnd = position;
  let runStart = -1;
  let offset = 0;
  while (offset < chunk.length) {
    const blockEnd = Math.min(
      chunk.length,
      (Math.floor((position + offset) / HOLE_BLOCK) + 1) * HOLE_BLOCK -
        position,
    );
    if (isZero(chunk, offset, blockEnd)) {
      if (runStart >= 0) {
        writeAll(fd, chunk, runStart, offset, position + runStart);
        writtenEnd = position + offset;
      }
      runStart = -1;
    } else if (runStart < 0) {
      runStart = offset;
    }
    offset = blockEnd;
  }
  if (runStart >= 0) {
    writeAll(fd, chunk, runStart, chunk.length, position + runStart);
    writtenEnd = position + chunk.length;
  }
  return writtenEnd;
}
