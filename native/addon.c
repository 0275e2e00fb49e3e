/*
 * blindsync's native addon: the two things Node cannot do itself. setTimes (utimens.c) sets
 * file times to the nanosecond; tuneAllocator (allocator.c) stops glibc's malloc from handing
 * large buffers back to the kernel after every use. Built by node-gyp at install; without it
 * blindsync still works (times to about 240 ns, default malloc behaviour).
 */
#include "addon.h"

NAPI_MODULE_INIT() {
  napi_value function;
  napi_create_function(env, "setTimes", NAPI_AUTO_LENGTH, set_times, NULL, &function);
  napi_set_named_property(env, exports, "setTimes", function);
  napi_create_function(env, "tuneAllocator", NAPI_AUTO_LENGTH, tune_allocator, NULL,
                       &function);
  napi_set_named_property(env, exports, "tuneAllocator", function);
  return exports;
}
