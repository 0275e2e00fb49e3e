/**
 * blindsync's optional native addon (native/, built by node-gyp at install): nanosecond file
 * times (file-times.ts) and malloc tuning (allocator.ts). Undefined when it did not build (no
 * compiler on the machine); every caller has a fallback.
 *
 * Shared leaf: imports nothing from any layer.
 */
import { createRequire } from "node:module";

export interface NativeAddon {
  setTimes(
    path: Buffer,
    seconds: bigint,
    nanoseconds: number,
    noFollow: boolean,
  ): void;
  tuneAllocator(mmapThreshold: number, trimThreshold: number): boolean;
}

function loadNative(): NativeAddon | undefined {
  const require = createRequire(import.meta.url);
  for (const candidate of [
    "../../build/Release/blindsync_native.node",
    "../../../build/Release/blindsync_native.node",
  ]) {
    try {
      return require(candidate) as NativeAddon;
    } catch {
      // Try the next location: dist/util and src/util sit at different depths.
    }
  }
  return undefined;
}

export const native = loadNative();
