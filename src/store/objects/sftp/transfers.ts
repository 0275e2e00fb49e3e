/**
 * Whole-buffer writes and ranged reads over an open SFTP handle, pipelined as OpenSSH's own
 * sftp client does: the bytes go in pieces small enough for any server, with several requests
 * in flight so that a round trip is paid once per window, not once per piece.
 */

import type { SftpClient } from "./client.js";

/**
 * Bytes per WRITE or READ. OpenSSH caps a packet at 256 KiB and its own client sends 32 KiB;
 * 64 KiB halves the requests and stays far below any server's limit.
 */
export const PIECE = 64 * 1024;

/** Requests in flight per transfer: 1 MiB, half of ssh's default 2 MiB channel window. */
export const IN_FLIGHT = 16;

/** Writes `bytes` at offset 0 of `handle`, every piece acknowledged when this resolves. */
export async function writeAll(
  client: SftpClient,
  handle: Uint8Array,
  path: string,
  bytes: Uint8Array,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < bytes.length && !failed) {
      const offset = next;
      next += PIECE;
      try {
        await client.write(
          handle,
          path,
          offset,
          bytes.subarray(offset, Math.min(offset + PIECE, bytes.length)),
        );
      } catch (error) {
        failed = true; // the other workers stop sending too
        throw error;
      }
    }
  };
  const workers = Math.min(IN_FLIGHT, Math.ceil(bytes.length / PIECE));
  await settleAll(Array.from({ length: workers }, worker));
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
  const out = new Uint8Array(length);
  /** The first offset (relative to `offset`) where the file was found to end. */
  let end = length;
  let next = 0;
  let failed = false;
  const readPiece = async (start: number, stop: number): Promise<void> => {
    let at = start;
    while (at < stop && at < end) {
      const data = await client.read(handle, path, offset + at, stop - at);
      if (data === undefined || data.length === 0) {
        end = Math.min(end, at);
        return;
      }
      out.set(data, at);
      at += data.length;
    }
  };
  const worker = async (): Promise<void> => {
    while (next < length && next < end && !failed) {
      const start = next;
      next += PIECE;
      try {
        await readPiece(start, Math.min(start + PIECE, length));
      } catch (error) {
        failed = true; // the other workers stop asking too
        throw error;
      }
    }
  };
  const workers = Math.min(IN_FLIGHT, Math.ceil(length / PIECE));
  await settleAll(Array.from({ length: workers }, worker));
  return end === length ? out : out.subarray(0, end);
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
