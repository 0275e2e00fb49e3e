/*
 * tuneAllocator(mmapThreshold: number, trimThreshold: number): boolean
 *
 * Node allocates Buffer and ArrayBuffer memory with malloc. glibc serves a large allocation
 * with its own mmap (until its dynamic threshold has grown past that size) and returns the top
 * of a heap to the kernel once more than the trim threshold is free there; worker threads get
 * heaps of their own, which are trimmed the same way. blindsync allocates and frees
 * megabyte-sized buffers at a high rate (chunks, sealed blobs, decrypted blobs), so every such
 * buffer came back as fresh pages: a page fault per 4 KiB, and on the benchmark's virtual machine
 * a slow one (docs/performance.md). Fixed thresholds keep freed memory for the next buffer.
 *
 * Returns false where it does nothing: a C library other than glibc.
 */
#include <node_api.h>
#include "addon.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

napi_value tune_allocator(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  int32_t mmap_threshold = 0;
  int32_t trim_threshold = 0;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_int32(env, args[0], &mmap_threshold) != napi_ok ||
      napi_get_value_int32(env, args[1], &trim_threshold) != napi_ok || mmap_threshold <= 0 ||
      trim_threshold <= 0) {
    napi_throw_type_error(env, NULL, "tuneAllocator(mmapThreshold, trimThreshold)");
    return NULL;
  }
  int done = 0;
#ifdef __GLIBC__
  done = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 &&
         mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
#endif
  napi_value result;
  napi_get_boolean(env, done, &result);
  return result;
}
