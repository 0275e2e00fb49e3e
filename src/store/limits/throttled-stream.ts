/**
 * A byte stream held to a rate limit, for the pipe to `blindsync serve` over ssh: what passes
 * through waits for the limiter in slices of at most 64 KiB, so a large put trickles out at the
 * rate instead of waiting in one block and then bursting. Backpressure is the Transform's own:
 * while a slice waits, writes into the stream fill its buffer and then report it full.
 */
import { Transform, type TransformCallback } from "node:stream";
import type { RateLimiter } from "./rate-limiter.js";

const SLICE_BYTES = 64 * 1024;

export function throttledStream(limiter: RateLimiter): Transform {
  return new Transform({
    transform(
      chunk: Buffer,
      _encoding: BufferEncoding,
      done: TransformCallback,
    ): void {
      void (async () => {
        for (let offset = 0; offset < chunk.length; offset += SLICE_BYTES) {
          const slice = chunk.subarray(offset, offset + SLICE_BYTES);
          await limiter.take(slice.length);
          this.push(slice);
        }
      })().then(() => {
        done();
      }, done);
    },
  });
}
