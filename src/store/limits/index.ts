/**
 * Transfer rate limits (`--limit-upload`, `--limit-download`): a limiter (rate-limiter.ts) and
 * where it is applied, at each store's byte stream: the pipe to `serve` (throttled-stream.ts),
 * the object store under a pack repository (limited-object-store.ts), and the blobs of a local
 * SQLite repository (limited-store.ts). open.ts composes them; nothing above store/ sees them.
 */
export {
  limitersOf,
  RateLimiter,
  type Limiters,
  type TransferLimits,
} from "./rate-limiter.js";
export { LimitedObjectStore } from "./limited-object-store.js";
export { LimitedStore } from "./limited-store.js";
export { throttledStream } from "./throttled-stream.js";
