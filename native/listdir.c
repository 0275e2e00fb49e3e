/*
 * listDirectory(path: Buffer): { names: Buffer, ends: Uint32Array, stats: BigInt64Array,
 *                                errors: Int32Array } | null
 *
 * One directory's names and each child's lstat in one call, for the backup walk
 * (src/engine/backup/listing.ts). From JavaScript every lstat builds a BigIntStats object of
 * eighteen BigInts that is garbage a moment later; on the benchmark's 43k entries that was
 * most of an unchanged backup's walk. Here the names are packed into one buffer (entry i ends
 * at ends[i]), sorted bytewise as Node's readdir returns them, and the nine fields the walk
 * reads go into stats[9 i ..]: mode, nlink, uid, gid, size, ino, dev, mtime and ctime in
 * nanoseconds. errors[i] is the errno of a child whose fstatat failed (0 otherwise); the
 * caller asks Node again for those, so the error the user sees is Node's own.
 *
 * Returns null when the directory cannot be opened or read: the caller falls back to Node's
 * readdir, which reports the error in its usual words.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "addon.h"

#define FIELDS 9

typedef struct {
  char **names;
  size_t count;
  size_t capacity;
  size_t bytes;
} name_list;

static void free_names(name_list *list) {
  for (size_t i = 0; i < list->count; i++) free(list->names[i]);
  free(list->names);
}

static int add_name(name_list *list, const char *name) {
  if (list->count == list->capacity) {
    size_t capacity = list->capacity == 0 ? 64 : list->capacity * 2;
    char **grown = realloc(list->names, capacity * sizeof(char *));
    if (grown == NULL) return -1;
    list->names = grown;
    list->capacity = capacity;
  }
  char *copy = strdup(name);
  if (copy == NULL) return -1;
  list->names[list->count++] = copy;
  list->bytes += strlen(name);
  return 0;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads every name but "." and ".."; closes the directory stream, not `fd`. */
static int read_names(int fd, name_list *list) {
  int copy = dup(fd);
  if (copy < 0) return -1;
  DIR *dir = fdopendir(copy);
  if (dir == NULL) {
    close(copy);
    return -1;
  }
  int failed = 0;
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(dir);
    if (entry == NULL) {
      failed = errno != 0;
      break;
    }
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    if (add_name(list, entry->d_name) != 0) {
      failed = 1;
      break;
    }
  }
  closedir(dir);
  return failed ? -1 : 0;
}

static int64_t nanoseconds(struct timespec time) {
  return (int64_t)time.tv_sec * 1000000000 + time.tv_nsec;
}

static napi_value typed_array(napi_env env, napi_typedarray_type type, size_t element,
                              size_t length, void **data) {
  napi_value buffer, array;
  if (napi_create_arraybuffer(env, element * length, data, &buffer) != napi_ok ||
      napi_create_typedarray(env, type, length, buffer, 0, &array) != napi_ok)
    return NULL;
  return array;
}

static napi_value build_result(napi_env env, int fd, name_list *list) {
  void *names_data = NULL;
  void *ends_data = NULL;
  void *stats_data = NULL;
  void *errors_data = NULL;
  napi_value names, ends, stats, errors, result;
  if (napi_create_buffer(env, list->bytes, &names_data, &names) != napi_ok) return NULL;
  ends = typed_array(env, napi_uint32_array, 4, list->count, &ends_data);
  stats = typed_array(env, napi_bigint64_array, 8, list->count * FIELDS, &stats_data);
  errors = typed_array(env, napi_int32_array, 4, list->count, &errors_data);
  if (ends == NULL || stats == NULL || errors == NULL) return NULL;
  size_t offset = 0;
  for (size_t i = 0; i < list->count; i++) {
    size_t length = strlen(list->names[i]);
    if (length > 0) memcpy((char *)names_data + offset, list->names[i], length);
    offset += length;
    ((uint32_t *)ends_data)[i] = (uint32_t)offset;
    struct stat st;
    int64_t *fields = (int64_t *)stats_data + i * FIELDS;
    if (fstatat(fd, list->names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
      ((int32_t *)errors_data)[i] = errno == 0 ? EIO : errno;
      memset(fields, 0, FIELDS * sizeof(int64_t));
      continue;
    }
    ((int32_t *)errors_data)[i] = 0;
    fields[0] = (int64_t)st.st_mode;
    fields[1] = (int64_t)st.st_nlink;
    fields[2] = (int64_t)st.st_uid;
    fields[3] = (int64_t)st.st_gid;
    fields[4] = (int64_t)st.st_size;
    fields[5] = (int64_t)st.st_ino;
    fields[6] = (int64_t)st.st_dev;
    fields[7] = nanoseconds(st.st_mtim);
    fields[8] = nanoseconds(st.st_ctim);
  }
  if (napi_create_object(env, &result) != napi_ok ||
      napi_set_named_property(env, result, "names", names) != napi_ok ||
      napi_set_named_property(env, result, "ends", ends) != napi_ok ||
      napi_set_named_property(env, result, "stats", stats) != napi_ok ||
      napi_set_named_property(env, result, "errors", errors) != napi_ok)
    return NULL;
  return result;
}

napi_value list_directory(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  void *data = NULL;
  size_t length = 0;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_buffer_info(env, args[0], &data, &length) != napi_ok ||
      memchr(data, 0, length) != NULL) {
    napi_throw_type_error(env, NULL, "listDirectory(path: Buffer)");
    return NULL;
  }
  char *path = malloc(length + 1);
  if (path == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  memcpy(path, data, length);
  path[length] = 0;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(path);
  napi_value nothing;
  napi_get_null(env, &nothing);
  if (fd < 0) return nothing;
  name_list list = {NULL, 0, 0, 0};
  napi_value result = nothing;
  if (read_names(fd, &list) == 0) {
    qsort(list.names, list.count, sizeof(char *), compare_names);
    result = build_result(env, fd, &list);
    if (result == NULL) {
      // A failed allocation in the engine: let the caller list the directory itself.
      napi_value pending;
      napi_get_and_clear_last_exception(env, &pending);
      result = nothing;
    }
  }
  free_names(&list);
  close(fd);
  return result;
}
