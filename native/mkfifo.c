/*
 * mkfifo(3) for restore: Node has no call that creates a named pipe. (addon.c registers it.)
 *
 * makeFifo(path: Buffer, mode: number): void
 * Creates a fifo at the byte path with `mode` (before the umask); throws an Error with
 * .code = the errno name on failure.
 */
#include <errno.h>
#include <node_api.h>
#include "addon.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

static napi_value throw_fifo_errno(napi_env env, int code) {
  const char *name = "EIO";
  switch (code) {
    case ENOENT: name = "ENOENT"; break;
    case EACCES: name = "EACCES"; break;
    case EPERM: name = "EPERM"; break;
    case EEXIST: name = "EEXIST"; break;
    case ENOTDIR: name = "ENOTDIR"; break;
    case ENOSPC: name = "ENOSPC"; break;
    case EROFS: name = "EROFS"; break;
    case ENOMEM: name = "ENOMEM"; break;
    default: break;
  }
  napi_throw_error(env, name, strerror(code));
  return NULL;
}

napi_value make_fifo(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  void *data = NULL;
  size_t length = 0;
  uint32_t mode = 0;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_buffer_info(env, args[0], &data, &length) != napi_ok ||
      napi_get_value_uint32(env, args[1], &mode) != napi_ok || mode > 07777 ||
      memchr(data, 0, length) != NULL) {
    napi_throw_type_error(env, NULL, "makeFifo(path, mode): bad arguments");
    return NULL;
  }
  char *path = malloc(length + 1);
  if (path == NULL) return throw_fifo_errno(env, ENOMEM);
  memcpy(path, data, length);
  path[length] = 0;
  int result = mkfifo(path, (mode_t)mode);
  int code = errno;
  free(path);
  if (result != 0) return throw_fifo_errno(env, code);
  return NULL;
}
