/**
 * Framing: every message travels as a u32 big-endian payload length followed by the payload.
 * The length is checked against a hard cap before a single byte is allocated for it, so a peer
 * (or a shell banner printed into the pipe) cannot make us reserve gigabytes.
 */

import { BlindsyncError } from "../errors.js";

export const FRAME_HEADER_LENGTH = 4;

/**
 * The largest payload either side accepts. The largest single blob is an 8 MiB chunk after
 * padding (PADME adds at most 12 %) plus its header, so 64 MiB leaves room for a put batch of
 * several such blobs while keeping a hostile peer's worst case small.
 */
export const MAX_FRAME_PAYLOAD = 64 * 1024 * 1024;

/** Prefixes `payload` with its length. Throws RangeError when it exceeds the cap. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_FRAME_PAYLOAD)
    throw new RangeError(
      `Frame payload of ${payload.length} bytes exceeds the cap of ${MAX_FRAME_PAYLOAD} bytes`,
    );
  const frame = new Uint8Array(FRAME_HEADER_LENGTH + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length);
  frame.set(payload, FRAME_HEADER_LENGTH);
  return frame;
}

/**
 * Splits a byte stream into frame payloads, whatever the split of the input into chunks.
 * After the first error the decoder stays failed: a stream that lost framing cannot resync.
 */
export class FrameDecoder {
  readonly #maxPayload: number;
  /** Received bytes not yet returned, oldest first; `#offset` skips the consumed head of [0]. */
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #buffered = 0;
  #failure: BlindsyncError | undefined;

  constructor(maxPayload: number = MAX_FRAME_PAYLOAD) {
    if (
      !Number.isInteger(maxPayload) ||
      maxPayload < 0 ||
      maxPayload > MAX_FRAME_PAYLOAD
    )
      throw new RangeError(`Invalid frame cap ${maxPayload}`);
    this.#maxPayload = maxPayload;
  }

  /** Bytes received but not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Adds received bytes and returns every payload now complete, in order. Throws
   * BlindsyncError('protocol') when a length prefix exceeds the cap; nothing is allocated for it.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failure !== undefined) throw this.#failure;
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.#buffered < FRAME_HEADER_LENGTH) break;
      const header = this.#peek(FRAME_HEADER_LENGTH);
      const length = new DataView(
        header.buffer,
        header.byteOffset,
        FRAME_HEADER_LENGTH,
      ).getUint32(0);
      if (length > this.#maxPayload) {
        this.#failure = new BlindsyncError(
          "protocol",
          `Received a frame announcing ${length} bytes, more than the cap of ${this.#maxPayload}`,
          {
            hint: "The peer is not a compatible blindsync, or something (a login banner, a shell profile) writes to the connection",
          },
        );
        this.#chunks = [];
        this.#buffered = 0;
        throw this.#failure;
      }
      if (this.#buffered < FRAME_HEADER_LENGTH + length) break;
      this.#skip(FRAME_HEADER_LENGTH);
      frames.push(this.#take(length));
    }
    return frames;
  }

  /**
   * Call at the end of the stream. Throws BlindsyncError('protocol') when it cut a frame short,
   * because a truncated frame must never be taken for a complete one.
   */
  end(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#buffered > 0) {
      this.#failure = new BlindsyncError(
        "protocol",
        `The stream ended inside a frame (${this.#buffered} bytes left over)`,
      );
      throw this.#failure;
    }
  }

  /** The first `n` buffered bytes without consuming them (n <= buffered). */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first !== undefined && first.length - this.#offset >= n)
      return first.subarray(this.#offset, this.#offset + n);
    const out = new Uint8Array(n);
    let filled = 0;
    let offset = this.#offset;
    for (const chunk of this.#chunks) {
      const part = chunk.subarray(offset, offset + (n - filled));
      out.set(part, filled);
      filled += part.length;
      offset = 0;
      if (filled === n) break;
    }
    return out;
  }

  /** Removes and returns the first `n` buffered bytes (n <= buffered), copying only if split. */
  #take(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first !== undefined && first.length - this.#offset >= n) {
      const out = first.subarray(this.#offset, this.#offset + n);
      this.#skip(n);
      return out;
    }
    const out = this.#peek(n);
    this.#skip(n);
    return out;
  }

  #skip(n: number): void {
    this.#buffered -= n;
    let left = n;
    while (left > 0) {
      const first = this.#chunks[0];
      if (first === undefined) break;
      const available = first.length - this.#offset;
      if (available > left) {
        this.#offset += left;
        return;
      }
      left -= available;
      this.#chunks.shift();
      this.#offset = 0;
    }
    const first = this.#chunks[0];
    if (first !== undefined && first.length === this.#offset) {
      this.#chunks.shift();
      this.#offset = 0;
    }
  }
}
