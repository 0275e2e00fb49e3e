/**
 * The field encoding of the wire protocol (docs/protocol.md, "Encoding of fields"): a Writer
 * that builds a payload from parts and a strict Reader that refuses anything short, overlong or
 * out of range with BlindsyncError('protocol'). messages.ts builds every message from these.
 */

import { BlindsyncError } from "../errors.js";
import { FRAME_HEADER_LENGTH, MAX_FRAME_PAYLOAD } from "./frame.js";

export const ID_LENGTH = 32;

/** Bounds short strings (names, paths, messages) far below the frame cap. */
const MAX_STRING_BYTES = 0xffff; // a u16 length
/** Payloads from this size on are decoded as views of their frame, not copies (Reader.raw). */
const VIEW_FROM_BYTES = 64 * 1024;
/** Frame parts this long are written by reference rather than copied (finishFrameParts). */
const BY_REFERENCE = 16 * 1024;

export class Writer {
  #parts: Uint8Array[] = [];
  #length = 0;

  u8(value: number): this {
    return this.#push(Uint8Array.of(value));
  }

  u16(value: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value);
    return this.#push(b);
  }

  u32(value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value);
    return this.#push(b);
  }

  /** A whole number up to 2^53 - 1 (a count, a lease, a time in ms), as a u64. */
  u53(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(
        `${value} is not a whole number the protocol carries`,
      );
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(value));
    return this.#push(b);
  }

  flag(value: boolean): this {
    return this.u8(value ? 1 : 0);
  }

  raw(bytes: Uint8Array): this {
    return this.#push(bytes);
  }

  id(id: Uint8Array): this {
    if (id.length !== ID_LENGTH)
      throw new RangeError(
        `A blob id must be ${ID_LENGTH} bytes, not ${id.length}`,
      );
    return this.#push(id);
  }

  bytes(bytes: Uint8Array): this {
    return this.u32(bytes.length).#push(bytes);
  }

  string(text: string): this {
    const encoded = new TextEncoder().encode(text);
    if (encoded.length > MAX_STRING_BYTES)
      throw new RangeError(
        `String of ${encoded.length} bytes exceeds ${MAX_STRING_BYTES}`,
      );
    return this.u16(encoded.length).#push(encoded);
  }

  finish(): Uint8Array {
    return this.#copyInto(new Uint8Array(this.#length), 0);
  }

  /** The payload behind its u32 length prefix; the cap is checked before allocating. */
  finishFrame(): Uint8Array {
    if (this.#length > MAX_FRAME_PAYLOAD) {
      throw new RangeError(
        `Frame payload of ${this.#length} bytes exceeds the cap of ${MAX_FRAME_PAYLOAD} bytes`,
      );
    }
    const frame = new Uint8Array(FRAME_HEADER_LENGTH + this.#length);
    new DataView(frame.buffer).setUint32(0, this.#length);
    return this.#copyInto(frame, FRAME_HEADER_LENGTH);
  }

  /**
   * finishFrame() without the big copy: runs of small parts are joined, and every part of
   * BY_REFERENCE bytes or more (a blob) is returned as it is, to be written after the others
   * with one writev. The caller must not change those buffers until they are written.
   */
  finishFrameParts(): Uint8Array[] {
    if (this.#length > MAX_FRAME_PAYLOAD) {
      throw new RangeError(
        `Frame payload of ${this.#length} bytes exceeds the cap of ${MAX_FRAME_PAYLOAD} bytes`,
      );
    }
    const header = new Uint8Array(FRAME_HEADER_LENGTH);
    new DataView(header.buffer).setUint32(0, this.#length);
    const out: Uint8Array[] = [];
    let run: Uint8Array[] = [header];
    let runLength = header.length;
    const endRun = (): void => {
      if (runLength === 0) return;
      const joined = new Uint8Array(runLength);
      let offset = 0;
      for (const part of run) {
        joined.set(part, offset);
        offset += part.length;
      }
      out.push(joined);
      run = [];
      runLength = 0;
    };
    for (const part of this.#parts) {
      if (part.length >= BY_REFERENCE) {
        endRun();
        out.push(part);
      } else {
        run.push(part);
        runLength += part.length;
      }
    }
    endRun();
    return out;
  }

  #copyInto(out: Uint8Array, start: number): Uint8Array {
    let offset = start;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  #push(bytes: Uint8Array): this {
    this.#parts.push(bytes);
    this.#length += bytes.length;
    return this;
  }
}

export class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(n: number, what: string): void {
    if (this.#bytes.length - this.#offset < n)
      throw protocolError(
        `Message ends early: ${what} needs ${n} bytes, ${this.#bytes.length - this.#offset} left`,
      );
  }

  u8(what: string): number {
    this.#need(1, what);
    return this.#view.getUint8(this.#offset++);
  }

  u16(what: string): number {
    this.#need(2, what);
    const value = this.#view.getUint16(this.#offset);
    this.#offset += 2;
    return value;
  }

  u32(what: string): number {
    this.#need(4, what);
    const value = this.#view.getUint32(this.#offset);
    this.#offset += 4;
    return value;
  }

  /** A u64 that must be at most 2^53 - 1, so it reads back as the exact number sent. */
  u53(what: string): number {
    this.#need(8, what);
    const value = this.#view.getBigUint64(this.#offset);
    this.#offset += 8;
    if (value > BigInt(Number.MAX_SAFE_INTEGER))
      throw protocolError(`${what} ${value} is larger than 2^53 - 1`);
    return Number(value);
  }

  /** A u8 that must be 0 or 1. */
  flag(what: string): boolean {
    const flag = this.u8(what);
    if (flag > 1) throw protocolError(`Invalid ${what} ${flag}`);
    return flag === 1;
  }

  raw(n: number, what: string): Uint8Array {
    this.#need(n, what);
    const start = this.#offset;
    this.#offset += n;
    // Always a plain Uint8Array, never a Buffer. A small field is copied, so that it does not
    // pin the receive buffer it came from (an id kept in a set would hold a 64 KiB chunk). A
    // payload of VIEW_FROM_BYTES or more is a blob, most of its frame, which the decoder
    // already assembled into a buffer of its own or which is most of one read: a view of it
    // pins little, and saves copying every blob a second time on both ends.
    if (n >= VIEW_FROM_BYTES)
      return new Uint8Array(
        this.#bytes.buffer,
        this.#bytes.byteOffset + start,
        n,
      );
    return new Uint8Array(this.#bytes.subarray(start, start + n));
  }

  id(what: string): Uint8Array {
    return this.raw(ID_LENGTH, what);
  }

  bytes(what: string): Uint8Array {
    return this.raw(this.u32(`${what} length`), what);
  }

  string(what: string): string {
    const raw = this.raw(this.u16(`${what} length`), what);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch (error) {
      throw protocolError(`${what} is not valid UTF-8`, error);
    }
  }

  /** A count of items that take at least `minItemBytes` each, checked against what is left. */
  count(minItemBytes: number, what: string): number {
    const n = this.u32(`${what} count`);
    this.#need(n * minItemBytes, `${n} ${what}`);
    return n;
  }

  end(what: string): void {
    const left = this.#bytes.length - this.#offset;
    if (left !== 0)
      throw protocolError(`${left} unexpected bytes after ${what}`);
  }
}

export function protocolError(
  message: string,
  cause?: unknown,
): BlindsyncError {
  return new BlindsyncError(
    "protocol",
    message,
    cause === undefined ? {} : { cause },
  );
}
