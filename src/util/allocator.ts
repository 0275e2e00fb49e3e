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

/** Applies the thresholds; false without the addon or on a C library other than glibc. */
export function tuneAllocator(): boolean {
  return native?.tuneAllocator(MMAP_THRESHOLD, TRIM_THRESHOLD) ?? false;
}
