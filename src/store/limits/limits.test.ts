import { PassThrough, type Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  MemoryObjectStore,
  type ByteRange,
  type GetOptions,
} from "../objects/index.js";
import { limitedTransport } from "../remote/ssh.js";
import { LimitedObjectStore } from "./limited-object-store.js";
import { RateLimiter } from "./rate-limiter.js";

/** Timers may fire a millisecond or so early as performance.now() sees them. */
const TIMER_SLACK_MS = 20;

async function readAll(stream: Readable, length: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let got = 0;
  for await (const piece of stream) {
    pieces.push(piece as Buffer);
    got += (piece as Buffer).length;
    if (got >= length) break;
  }
  return Buffer.concat(pieces);
}

describe("transfer limits on the pipe to serve", () => {
  it("holds each direction of ssh's pipes to its rate, bytes intact and in order", async () => {
    const child = { stdin: new PassThrough(), stdout: new PassThrough() };
    const transport = limitedTransport(child, {
      upload: new RateLimiter(256),
      download: new RateLimiter(512),
    });
    const up = Buffer.alloc(192 * 1024, 1).map((_, index) => index % 251);
    const down = Buffer.alloc(256 * 1024, 2);
    const started = performance.now();
    transport.writable.write(up);
    child.stdout.write(down);
    const [sent, received] = await Promise.all([
      readAll(child.stdin, up.length).then((bytes) => ({
        bytes,
        ms: performance.now() - started,
      })),
      readAll(transport.readable, down.length).then((bytes) => ({
        bytes,
        ms: performance.now() - started,
      })),
    ]);
    expect(sent.bytes.equals(up)).toBe(true);
    expect(received.bytes.equals(down)).toBe(true);
    // 192 KiB at 256 KiB/s and 256 KiB at 512 KiB/s: 750 and 500 ms, each at least.
    expect(sent.ms).toBeGreaterThanOrEqual(750 - TIMER_SLACK_MS);
    expect(received.ms).toBeGreaterThanOrEqual(500 - TIMER_SLACK_MS);
  });

  it("leaves an unlimited direction as ssh's own pipe", () => {
    const child = { stdin: new PassThrough(), stdout: new PassThrough() };
    const transport = limitedTransport(child, {
      upload: undefined,
      download: new RateLimiter(1),
    });
    expect(transport.writable).toBe(child.stdin);
    expect(transport.readable).not.toBe(child.stdout);
  });
});

describe("LimitedObjectStore", () => {
  it("hands a get's options down, so that sftp still keeps packs open under a limit", async () => {
    const inner = new MemoryObjectStore();
    await inner.put("packs/aa/p1", new Uint8Array([1, 2, 3, 4]));
    const seen: unknown[] = [];
    const spied = Object.assign(Object.create(inner) as MemoryObjectStore, {
      get: (name: string, range?: ByteRange, options?: GetOptions) => {
        seen.push(options);
        return inner.get(name, range);
      },
    });
    const limited = new LimitedObjectStore(spied, {
      upload: undefined,
      download: new RateLimiter(1024 * 1024),
    });
    const range = { offset: 1, length: 2 };
    expect(
      await limited.get("packs/aa/p1", range, { unchanging: true }),
    ).toEqual(new Uint8Array([2, 3]));
    expect(seen).toEqual([{ unchanging: true }]);
  });
});
