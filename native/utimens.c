/*
 * utimensat(2) with exact nanoseconds, for restore. Node's fs.utimes takes seconds as a
 * double, which cannot hold a 2020s timestamp to the nanosecond (about 240 ns of resolution),
 * so restored mtimes would differ from the originals. (addon.c registers it.)
 *
 * setTimes(path: Buffer, seconds: bigint, nanoseconds: number, noFollow: boolean): void
 * Sets both atime and mtime; throws an Error with .code = the errno name on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include "addon.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static napi_value throw_errno(napi_env env, int code) {
  const char *name = "EIO";
  switch (code) {
    case ENOENT: name = "ENOENT"; break;
    case EACCES: name = "EACCES"; break;
    case EPERM: name = "EPERM"; break;
    case ENOTDIR: name = "ENOTDIR"; break;
    case ELOOP: name = "ELOOP"; break;
    case EROFS: name = "EROFS"; break;
    case EINVAL: name = "EINVAL"; break;
    default: break;
  }
  napi_throw_error(env, name, strerror(code));
  return NULL;
}

napi_value set_times(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 4) {
    napi_throw_type_error(env, NULL, "setTimes(path, seconds, nanoseconds, noFollow)");
    return NULL;
  }
  void *data = NULL;
  size_t length = 0;
  int64_t seconds = 0;
  bool lossless = false;
  int32_t nanoseconds = 0;
  bool no_follow = false;
  if (napi_get_buffer_info(env, args[0], &data, &length) != napi_ok ||
      napi_get_value_bigint_int64(env, args[1], &seconds, &lossless) != napi_ok || !lossless ||
      napi_get_value_int32(env, args[2], &nanoseconds) != napi_ok ||
      napi_get_value_bool(env, args[3], &no_follow) != napi_ok || nanoseconds < 0 ||
      nanoseconds > 999999999 || memchr(data, 0, length) != NULL) {
    napi_throw_type_error(env, NULL, "setTimes: bad arguments");
    return NULL;
  }
  char *path = malloc(length + 1);
  if (path == NULL) return throw_errno(env, ENOMEM);
  memcpy(path, data, length);
  path[length] = 0;
  struct timespec times[2];
  times[0].tv_sec = (time_t)seconds;
  times[0].tv_nsec = nanoseconds;
  times[1] = times[0];
  int result = utimensat(AT_FDCWD, path, times, no_follow ? AT_SYMLINK_NOFOLLOW : 0);
  int code = errno;
  free(path);
  if (result != 0) return throw_errno(env, code);
  return NULL;
}
