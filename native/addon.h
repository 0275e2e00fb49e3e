/* The functions of blindsync's native addon, registered by addon.c. */
#ifndef BLINDSYNC_ADDON_H
#define BLINDSYNC_ADDON_H
#include <node_api.h>

napi_value set_times(napi_env env, napi_callback_info info);
napi_value tune_allocator(napi_env env, napi_callback_info info);
napi_value list_directory(napi_env env, napi_callback_info info);
napi_value scrypt_mix(napi_env env, napi_callback_info info);
napi_value write_files(napi_env env, napi_callback_info info);
napi_value read_files(napi_env env, napi_callback_info info);
napi_value make_fifo(napi_env env, napi_callback_info info);

#endif
