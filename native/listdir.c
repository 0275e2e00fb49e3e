/*
 * listDirectory(path: Buffer): { names: Buffer, ends: Uint32Array, stats: BigInt64Array,
 *                                errors: Int32Array } | null
 * listDirectoryAhead(path: Buffer): Promise<the same | null>
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
 * listDirectoryAhead does the same work in the thread pool: the walk lists the next
 * subdirectories there while its main thread, the backup's busiest, works through the
 * current one (src/engine/backup/listings-ahead.ts). Only the copy into JavaScript's arrays
 * runs on the main thread.
 *
 * Both give null when the directory cannot be opened or read: the caller falls back to Node's
 * readdir, which reports the error in its usual words.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdbool.h>
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

/* A directory's listing in C memory, before it is copied into JavaScript's arrays. */
typedef struct {
  size_t count;
  size_t bytes;
  char *names; /* packed, entry i ending at ends[i] */
  uint32_t *ends;
  int64_t *stats; /* FIELDS per entry */
  int32_t *errors;
} listing;

static void free_listing(listing *out) {
  free(out->names);
  free(out->ends);
  free(out->stats);
  free(out->errors);
  memset(out, 0, sizeof *out);
}

static void stat_entry(int fd, const char *name, int64_t *fields, int32_t *error) {
  struct stat st;
  if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    *error = errno == 0 ? EIO : errno;
    memset(fields, 0, FIELDS * sizeof(int64_t));
    return;
  }
  *error = 0;
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

/* Lists `path` into `out` (sorted names, each child's lstat); -1 when it cannot be listed or
 * memory runs out, with nothing left allocated. Touches no JavaScript: safe in the pool. */
static int collect(const char *path, listing *out) {
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  name_list list = {NULL, 0, 0, 0};
  int failed = read_names(fd, &list) != 0;
  if (!failed) {
    qsort(list.names, list.count, sizeof(char *), compare_names);
    size_t slots = list.count > 0 ? list.count : 1;
    out->count = list.count;
    out->bytes = list.bytes;
    out->names = malloc(list.bytes > 0 ? list.bytes : 1);
    out->ends = malloc(slots * sizeof(uint32_t));
    out->stats = malloc(slots * FIELDS * sizeof(int64_t));
    out->errors = malloc(slots * sizeof(int32_t));
    failed = out->names == NULL || out->ends == NULL || out->stats == NULL || out->errors == NULL;
  }
  size_t offset = 0;
  for (size_t i = 0; !failed && i < list.count; i++) {
    size_t length = strlen(list.names[i]);
    if (length > 0) memcpy(out->names + offset, list.names[i], length);
    offset += length;
    out->ends[i] = (uint32_t)offset;
    stat_entry(fd, list.names[i], out->stats + i * FIELDS, out->errors + i);
  }
  free_names(&list);
  close(fd);
  if (failed) free_listing(out);
  return failed ? -1 : 0;
}

/* The listing as JavaScript's { names, ends, stats, errors }, or NULL if the engine fails. */
static napi_value to_javascript(napi_env env, const listing *in) {
  void *names_data = NULL;
  void *ends_data = NULL;
  void *stats_data = NULL;
  void *errors_data = NULL;
  napi_value names, ends, stats, errors, result;
  if (napi_create_buffer(env, in->bytes, &names_data, &names) != napi_ok) return NULL;
  ends = typed_array(env, napi_uint32_array, 4, in->count, &ends_data);
  stats = typed_array(env, napi_bigint64_array, 8, in->count * FIELDS, &stats_data);
  errors = typed_array(env, napi_int32_array, 4, in->count, &errors_data);
  if (ends == NULL || stats == NULL || errors == NULL) return NULL;
  if (in->count > 0) {
    if (in->bytes > 0) memcpy(names_data, in->names, in->bytes);
    memcpy(ends_data, in->ends, in->count * sizeof(uint32_t));
    memcpy(stats_data, in->stats, in->count * FIELDS * sizeof(int64_t));
    memcpy(errors_data, in->errors, in->count * sizeof(int32_t));
  }
  if (napi_create_object(env, &result) != napi_ok ||
      napi_set_named_property(env, result, "names", names) != napi_ok ||
      napi_set_named_property(env, result, "ends", ends) != napi_ok ||
      napi_set_named_property(env, result, "stats", stats) != napi_ok ||
      napi_set_named_property(env, result, "errors", errors) != napi_ok)
    return NULL;
  return result;
}

/* The listing as JavaScript, or null when it is missing or the engine failed (the caller then
 * lists the directory itself). */
static napi_value answer(napi_env env, const listing *in, int collected) {
  napi_value nothing;
  napi_get_null(env, &nothing);
  if (collected != 0) return nothing;
  napi_value result = to_javascript(env, in);
  if (result != NULL) return result;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  return nothing;
}

/* A malloc'ed NUL-terminated copy of the Buffer argument, or NULL (a TypeError thrown). */
static char *path_argument(napi_env env, napi_callback_info info, const char *usage) {
  size_t argc = 1;
  napi_value args[1];
  void *data = NULL;
  size_t length = 0;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_buffer_info(env, args[0], &data, &length) != napi_ok ||
      memchr(data, 0, length) != NULL) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  char *path = malloc(length + 1);
  if (path == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  memcpy(path, data, length);
  path[length] = 0;
  return path;
}

napi_value list_directory(napi_env env, napi_callback_info info) {
  char *path = path_argument(env, info, "listDirectory(path: Buffer)");
  if (path == NULL) return NULL;
  listing out;
  int collected = collect(path, &out);
  free(path);
  napi_value result = answer(env, &out, collected);
  free_listing(&out);
  return result;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *path;
  listing out;
  int collected;
} ahead_job;

static void ahead_execute(napi_env env, void *data) {
  (void)env;
  ahead_job *job = data;
  job->collected = collect(job->path, &job->out);
}

static void ahead_complete(napi_env env, napi_status status, void *data) {
  ahead_job *job = data;
  /* A cancelled or failed job answers null too: the walk then lists the directory itself. */
  napi_value result = answer(env, &job->out, status == napi_ok ? job->collected : -1);
  napi_resolve_deferred(env, job->deferred, result);
  free_listing(&job->out);
  napi_delete_async_work(env, job->work);
  free(job->path);
  free(job);
}

napi_value list_directory_ahead(napi_env env, napi_callback_info info) {
  char *path = path_argument(env, info, "listDirectoryAhead(path: Buffer)");
  if (path == NULL) return NULL;
  ahead_job *job = calloc(1, sizeof(ahead_job));
  napi_value promise, name;
  if (job == NULL || napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
    free(job);
    free(path);
    napi_throw_error(env, "ENOMEM", "listDirectoryAhead: out of memory");
    return NULL;
  }
  job->path = path;
  napi_create_string_utf8(env, "blindsync:listDirectoryAhead", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, ahead_execute, ahead_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}
