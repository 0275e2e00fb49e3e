import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { isBlindsyncError } from "../errors.js";
import {
  FRAME_HEADER_LENGTH,
  FrameDecoder,
  MAX_FRAME_PAYLOAD,
  encodeFrame,
} from "./frame.js";

function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort(
    (a, b) => a - b,
  );
  const parts: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    parts.push(bytes.subarray(start, point));
    start = point;
  }
  parts.push(bytes.subarray(start));
  return parts;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function header(length: number): Uint8Array {
  const bytes = new Uint8Array(FRAME_HEADER_LENGTH);
  new DataView(bytes.buffer).setUint32(0, length);
  return bytes;
}

describe("FrameDecoder", () => {
  it("returns the same payloads whatever the split of the input stream", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (payloads, cuts) => {
          const stream = concat(payloads.map(encodeFrame));
          const decoder = new FrameDecoder();
          const out: Uint8Array[] = [];
          for (const part of splitAt(stream, cuts))
            out.push(...decoder.push(part));
          decoder.end();
          expect(out.map((p) => Array.from(p))).toEqual(
            payloads.map((p) => Array.from(p)),
          );
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
    );
  });

  it("decodes a stream fed one byte at a time", () => {
    const payloads = [new Uint8Array([1, 2, 3]), new Uint8Array(0)];
    const stream = concat(payloads.map(encodeFrame));
    const decoder = new FrameDecoder();
    const out: Uint8Array[] = [];
    for (const byte of stream) out.push(...decoder.push(Uint8Array.of(byte)));
    expect(out).toEqual(payloads);
  });

  it("rejects a 4 GiB length prefix without allocating the frame", () => {
    const decoder = new FrameDecoder();
    const before = process.memoryUsage().arrayBuffers;
    let caught: unknown;
    try {
      decoder.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0));
    } catch (error) {
      caught = error;
    }
    expect(isBlindsyncError(caught, "protocol")).toBe(true);
    expect(String(caught)).toMatch(/4294967295 bytes/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(
      1024 * 1024,
    );
  });

  it("rejects a prefix one byte over the cap and accepts one at the cap", () => {
    const over = new FrameDecoder();
    expect(() => over.push(header(MAX_FRAME_PAYLOAD + 1))).toThrow(
      /more than the cap/,
    );
    const at = new FrameDecoder();
    expect(at.push(header(MAX_FRAME_PAYLOAD))).toEqual([]);
    expect(at.bufferedBytes).toBe(FRAME_HEADER_LENGTH);
  });

  it("honours a smaller cap given to its constructor", () => {
    const decoder = new FrameDecoder(10);
    expect(() => decoder.push(header(11))).toThrow(/cap of 10/);
  });

  it("stays failed after an oversized prefix, since framing is lost", () => {
    const decoder = new FrameDecoder(10);
    expect(() => decoder.push(header(11))).toThrow();
    expect(() => decoder.push(encodeFrame(new Uint8Array(1)))).toThrow(
      /cap of 10/,
    );
  });

  it("treats text written into the pipe (a login banner) as a protocol error", () => {
    const decoder = new FrameDecoder();
    let caught: unknown;
    try {
      decoder.push(new TextEncoder().encode("Welcome to Ubuntu 24.04\n"));
    } catch (error) {
      caught = error;
    }
    expect(isBlindsyncError(caught, "protocol")).toBe(true);
  });

  it("reports a stream that ends inside a frame", () => {
    const decoder = new FrameDecoder();
    decoder.push(encodeFrame(new Uint8Array(8)).subarray(0, 6));
    expect(() => {
      decoder.end();
    }).toThrow(/ended inside a frame/);
  });

  it("refuses to encode a payload over the cap", () => {
    expect(() => encodeFrame(new Uint8Array(MAX_FRAME_PAYLOAD + 1))).toThrow(
      RangeError,
    );
  });
});
