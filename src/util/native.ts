/**
 * blindsync's optional native addon (native/, built by node-gyp at install): nanosecond file
 * times (file-times.ts), malloc tuning (allocator.ts), directory listings with stats
 * (engine/backup/listing.ts), scrypt's memory-hard step in huge pages (crypto/kdf.ts) and
 * named pipes for restore (engine/restore/fifos.ts) and batches of small restored files written
 * in the thread pool (engine/restore/file-batch.ts), and batches of small files read there for
 * backup (engine/backup/small-file-batch.ts).
 * Undefined when it did not build (no compiler on the machine); every caller has a fallback.
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
  /** A directory's names and children's lstat, packed (native/listdir.c); null if unreadable. */
  listDirectory(path: Buffer): {
    names: Buffer;
    ends: Uint32Array;
    stats: BigInt64Array;
    errors: Int32Array;
  } | null;
  /** scrypt's ROMix of each 128·r-byte block of `b` (native/scrypt.c), in the thread pool. */
  readonly scryptMix: (
    b: Buffer,
    logN: number,
    r: number,
    p: number,
  ) => Promise<Buffer>;
  /**
   * mkfifo(3) at a byte path (native/mkfifo.c). Optional: an addon built before it was added
   * lacks it, and the caller then runs the mkfifo command.
   */
  readonly makeFifo?: (path: Buffer, mode: number) => void;
  /**
   * Creates and writes a batch of small files in the thread pool (native/writefiles.c, which
   * documents the arguments); each file's errno, 0 when written. Optional: a build of the
   * addon from before it was added lacks it.
   */
  readonly writeFiles?: (
    temps: readonly Buffer[],
    paths: readonly Buffer[],
    contents: readonly Uint8Array[],
    ints: Int32Array,
    seconds: BigInt64Array,
    sizes: Float64Array,
    fsync: boolean,
  ) => Promise<Int32Array>;
  /**
   * Reads a batch of small files in the thread pool into slots of `into` (native/readfiles.c,
   * which documents the arguments); each file's byte count, or its negated errno. Optional:
   * a build of the addon from before it was added lacks it.
   */
  readonly readFiles?: (
    paths: readonly Buffer[],
    flags: number,
    into: Buffer,
    capacities: Uint32Array,
  ) => Promise<Int32Array>;
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
