/**
 * Whole-buffer writes and ranged reads over an open SFTP handle, pipelined as OpenSSH's own
 * sftp client does: the bytes go in pieces small enough for any server, with several requests
 * in flight so that a round trip is paid once per window, not once per piece.
 */

import type { SftpClient } from "./client.js";

/** Bytes of WRITEs in flight per put: 1 MiB, half of ssh's default 2 MiB channel window. */
export const WRITE_BYTES_IN_FLIGHT = 1024 * 1024;

/** Bytes of READs in flight per get: 2 MiB of replies, ssh's default channel window. */
export const READ_BYTES_IN_FLIGHT = 2 * 1024 * 1024;

function requestsInFlight(bytes: number, piece: number): number {
  return Math.max(1, Math.floor(bytes / piece));
}

/**
 * Writes `bytes` (one buffer, or parts to be written back to back) at offset 0 of `handle`,
 * every piece acknowledged when this resolves. Parts are sent as they are, a WRITE that
 * spans two of them as views of both: nothing is copied.
 */
export async function writeAll(
  client: SftpClient,
  handle: Uint8Array,
  path: string,
  bytes: Uint8Array | readonly Uint8Array[],
): Promise<void> {
  const pieces = cutPieces(
    bytes instanceof Uint8Array ? [bytes] : bytes,
    client.writePiece,
  );
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < pieces.length && !failed) {
      const { offset, data } = pieces[next++] as Piece;
      try {
        await client.write(handle, path, offset, data);
      } catch (error) {
        failed = true; // the other workers stop sending too
        throw error;
      }
    }
  };
  const workers = Math.min(
    requestsInFlight(WRITE_BYTES_IN_FLIGHT, client.writePiece),
    pieces.length,
  );
  await settleAll(Array.from({ length: workers }, worker));
}

/** One WRITE: where it goes, and its data as views into the caller's parts. */
interface Piece {
  readonly offset: number;
  readonly data: readonly Uint8Array[];
}

/** The parts joined, cut into pieces of `size` bytes (the last shorter): views, no copies. */
export function cutPieces(parts: readonly Uint8Array[], size: number): Piece[] {
  const pieces: Piece[] = [];
  let data: Uint8Array[] = [];
  let filled = 0;
  let offset = 0;
  for (const part of parts) {
    let at = 0;
    while (at < part.length) {
      const take = Math.min(size - filled, part.length - at);
      data.push(part.subarray(at, at + take));
      at += take;
      filled += take;
      if (filled === size) {
        pieces.push({ offset, data });
        offset += filled;
        data = [];
        filled = 0;
      }
    }
  }
  if (filled > 0) pieces.push({ offset, data });
  return pieces;
}

/**
 * `length` bytes from `offset` of `handle`, or fewer when the file ends first (the caller
 * tells a short object from a short read). A server may answer a READ with fewer bytes than
 * asked; the rest is asked for again.
 */
export async function readRange(
  client: SftpClient,
  handle: Uint8Array,
  path: string,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const piece = client.readPiece;
  if (length <= piece)
    return await readOne(client, handle, path, offset, length);
  const out = new Uint8Array(length);
  /** The first offset (relative to `offset`) where the file was found to end. */
  let end = length;
  let next = 0;
  let failed = false;
  const readPiece = async (start: number, stop: number): Promise<void> => {
    let at = start;
    while (at < stop && at < end) {
      // A reply that spans pipe chunks is copied into `out` as it arrives; one that a chunk
      // holds whole comes back as a view of the chunk and is copied here.
      const into = out.subarray(at, stop);
      const data = await client.read(
        handle,
        path,
        offset + at,
        stop - at,
        into,
      );
      if (data === undefined || data.length === 0) {
        end = Math.min(end, at);
        return;
      }
      if (data.buffer !== out.buffer || data.byteOffset !== into.byteOffset)
        out.set(data, at);
      at += data.length;
    }
  };
  const worker = async (): Promise<void> => {
    while (next < length && next < end && !failed) {
      const start = next;
      next += piece;
      try {
        await readPiece(start, Math.min(start + piece, length));
      } catch (error) {
        failed = true; // the other workers stop asking too
        throw error;
      }
    }
  };
  const workers = Math.min(
    requestsInFlight(READ_BYTES_IN_FLIGHT, piece),
    Math.ceil(length / piece),
  );
  await settleAll(Array.from({ length: workers }, worker));
  return end === length ? out : out.subarray(0, end);
}

/**
 * A range one READ can answer: the reply's bytes are returned as they are, not copied into a
 * buffer of their own, unless they are a small part of a larger one (a pipe chunk that other
 * replies share), which they would keep alive.
 */
async function readOne(
  client: SftpClient,
  handle: Uint8Array,
  path: string,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  if (length === 0) return new Uint8Array(0);
  const data = await client.read(handle, path, offset, length);
  if (data === undefined || data.length === 0) return new Uint8Array(0);
  if (data.length < length) {
    // A short read: the rest is asked for again, as readRange does for every piece.
    const rest = await readOne(
      client,
      handle,
      path,
      offset + data.length,
      length - data.length,
    );
    const out = new Uint8Array(data.length + rest.length);
    out.set(data);
    out.set(rest, data.length);
    return out;
  }
  // A plain Uint8Array either way, as every backend returns (a pipe chunk is a Buffer).
  return data.byteLength * 2 < data.buffer.byteLength
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Like Promise.all, but waits for every promise before rejecting with the first error, so no
 * request is still writing into a buffer (or a handle still used) after the caller moved on.
 */
export async function settleAll(promises: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const result of results)
    if (result.status === "rejected") throw result.reason;
}
