/**
 * Keeps glibc's malloc from returning large freed buffers to the kernel after every use
 * (native/allocator.c says how). blindsync churns through megabyte-sized buffers (chunks,
 * sealed and decrypted blobs); with the default dynamic thresholds each came back as fresh pages,
 * one page fault per 4 KiB; keeping them saves those faults and the time they cost (the
 * measurement is in docs/performance.md, "Numbers that used to live in code comments").
 *
 * Shared leaf: imports nothing from any layer.
 */
import { native } from "./native.js";

/**
 * Largest allocation malloc serves from its heaps rather than a mapping of its own: glibc's
 * upper limit for this setting, above the 8 MiB largest chunk and most blobs.
 */
const MMAP_THRESHOLD = 32 * 1024 * 1024;
/**
 * Free memory a heap keeps before it gives the top back to the kernel: a few batches' worth,
 * a bounded addition to the resident size.
 */
const TRIM_THRESHOLD = 32 * 1024 * 1024;

/**
 * Malloc arenas the process's threads share. glibc's default gives every thread that allocates
 * an arena of its own, each keeping its own freed buffers: a sealing worker's arena alone held
 * 60-100 MiB at a large file's backup (docs/performance.md, "Memory of the initial backup").
 * One arena shares that free memory between the threads; they allocate few, large buffers, so
 * they rarely wait on its lock.
 */
export const ARENA_MAX = 1;

/** Applies the thresholds; false without the addon or on a C library other than glibc. */
export function tuneAllocator(): boolean {
  if (native === undefined) return false;
  try {
    return native.tuneAllocator(MMAP_THRESHOLD, TRIM_THRESHOLD, ARENA_MAX);
  } catch {
    // An addon built before arenaMax refuses a third argument: the thresholds alone, then.
    return native.tuneAllocator(MMAP_THRESHOLD, TRIM_THRESHOLD);
  }
}
