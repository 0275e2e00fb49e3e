/*
 * blindsync's native addon: what Node cannot do itself, or only slowly. setTimes (utimens.c)
 * sets file times to the nanosecond; tuneAllocator (allocator.c) stops glibc's malloc from
 * handing large buffers back to the kernel after every use; listDirectory (listdir.c) lists a
 * directory with every child's lstat without an object per child; scryptMix (scrypt.c) runs
 * scrypt's memory-hard step in huge pages; makeFifo (mkfifo.c) creates a named pipe for
 * restore; writeFiles (writefiles.c) writes a batch of small restored files in the thread
 * pool, and readFiles (readfiles.c) reads a batch of small files there for backup. Built by node-gyp at
 * install; without it blindsync still works (times to about 240 ns, default malloc behaviour,
 * the walk through Node's readdir and lstat, small files read one by one on the main thread,
 * fifos through the mkfifo command).
 */
#include "addon.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *path_copy(napi_env env, napi_value array, uint32_t i) {
  napi_value value;
  void *bytes = NULL;
  size_t length = 0;
  if (napi_get_element(env, array, i, &value) != napi_ok ||
      napi_get_buffer_info(env, value, &bytes, &length) != napi_ok || length == 0 ||
      memchr(bytes, 0, length) != NULL)
    return NULL;
  char *copy = malloc(length + 1);
  if (copy == NULL) return NULL;
  memcpy(copy, bytes, length);
  copy[length] = 0;
  return copy;
}

void settle_int32_results(napi_env env, napi_status status, napi_deferred deferred,
                          const int32_t *values, size_t count, const char *name) {
  napi_value buffer, result;
  void *bytes = NULL;
  if (status == napi_ok &&
      napi_create_arraybuffer(env, count * sizeof(int32_t), &bytes, &buffer) == napi_ok &&
      napi_create_typedarray(env, napi_int32_array, count, buffer, 0, &result) == napi_ok) {
    if (count > 0) memcpy(bytes, values, count * sizeof(int32_t));
    napi_resolve_deferred(env, deferred, result);
    return;
  }
  char text[64];
  snprintf(text, sizeof text, "%s failed", name);
  napi_value message, error;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_reject_deferred(env, deferred, error);
}

NAPI_MODULE_INIT() {
  napi_value function;
  napi_create_function(env, "setTimes", NAPI_AUTO_LENGTH, set_times, NULL, &function);
  napi_set_named_property(env, exports, "setTimes", function);
  napi_create_function(env, "tuneAllocator", NAPI_AUTO_LENGTH, tune_allocator, NULL,
                       &function);
  napi_set_named_property(env, exports, "tuneAllocator", function);
  napi_create_function(env, "listDirectory", NAPI_AUTO_LENGTH, list_directory, NULL,
                       &function);
  napi_set_named_property(env, exports, "listDirectory", function);
  napi_create_function(env, "scryptMix", NAPI_AUTO_LENGTH, scrypt_mix, NULL, &function);
  napi_set_named_property(env, exports, "scryptMix", function);
  napi_create_function(env, "makeFifo", NAPI_AUTO_LENGTH, make_fifo, NULL, &function);
  napi_set_named_property(env, exports, "makeFifo", function);
  napi_create_function(env, "writeFiles", NAPI_AUTO_LENGTH, write_files, NULL, &function);
  napi_set_named_property(env, exports, "writeFiles", function);
  napi_create_function(env, "readFiles", NAPI_AUTO_LENGTH, read_files, NULL, &function);
  napi_set_named_property(env, exports, "readFiles", function);
  return exports;
}
