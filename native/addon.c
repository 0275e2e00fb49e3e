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
