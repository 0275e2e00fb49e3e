/* The functions of blindsync's native addon, registered by addon.c. */
#ifndef BLINDSYNC_ADDON_H
#define BLINDSYNC_ADDON_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

napi_value set_times(napi_env env, napi_callback_info info);
napi_value tune_allocator(napi_env env, napi_callback_info info);
napi_value list_directory(napi_env env, napi_callback_info info);
napi_value scrypt_mix(napi_env env, napi_callback_info info);
napi_value write_files(napi_env env, napi_callback_info info);
napi_value read_files(napi_env env, napi_callback_info info);
napi_value make_fifo(napi_env env, napi_callback_info info);

/*
 * Ends a batch call of the thread pool (writeFiles, readFiles): resolves `deferred` with an
 * Int32Array copy of `values` when `status` is ok, else rejects it with "<name> failed".
 */
/* A malloc'ed, NUL-terminated copy of the non-empty byte path (a Buffer without NUL bytes) at
 * element i of array, or NULL. */
char *path_copy(napi_env env, napi_value array, uint32_t i);

void settle_int32_results(napi_env env, napi_status status, napi_deferred deferred,
                          const int32_t *values, size_t count, const char *name);

#endif
