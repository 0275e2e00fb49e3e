/*
 * Reading a batch of small files in the thread pool, for backup. A first backup of many small
 * files spent about a sixth of its main thread in the open, read and close of each file
 * (docs/performance.md, "Small files, per-file cost, round three"), while the second core
 * waited; one call per batch here moves those system calls, and the kernel's work inside
 * them, to a thread of the libuv pool, and the main thread only hashes and queues the bytes.
 * (addon.c registers it.)
 *
 * readFiles(paths: Buffer[], flags: number, into: Buffer, capacities: Uint32Array)
 *   : Promise<Int32Array>
 * File i is opened with `flags` (the JavaScript route's own open flags, so both routes refuse
 * a symlink and never block on a FIFO in the same way) plus O_CLOEXEC, and read until end of
 * file or until its slot is full. Slot i of `into` starts at the sum of capacities[0..i) and
 * holds capacities[i] bytes. The answer holds, for each file, the bytes read (0 up to
 * capacities[i]) or a negated errno. A file that fills its slot may hold more: the caller
 * passes its lstat size plus one, so a full slot means "grew since the listing", and reads
 * that file again its usual way; it does the same for an error, so the error the user sees is
 * Node's own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "addon.h"

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref keep; /* the `into` buffer, so it outlives the work */
  size_t count;
  char **paths;
  uint8_t *into;
  uint32_t *capacities;
  int flags;
  int32_t *results;
} read_job;

/* The bytes read into `slot` (at most `capacity`), or a negated errno. */
static int32_t read_one(const char *path, int flags, uint8_t *slot, uint32_t capacity) {
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0) return -errno;
  int32_t result = 0;
  size_t done = 0;
  while (done < capacity) {
    ssize_t n = read(fd, slot + done, capacity - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      result = -errno;
      break;
    }
    if (n == 0) break;
    done += (size_t)n;
  }
  close(fd);
  return result < 0 ? result : (int32_t)done;
}

static void read_execute(napi_env env, void *data) {
  (void)env;
  read_job *job = data;
  size_t offset = 0;
  for (size_t i = 0; i < job->count; i++) {
    job->results[i] = read_one(job->paths[i], job->flags, job->into + offset, job->capacities[i]);
    offset += job->capacities[i];
  }
}

static void free_job(napi_env env, read_job *job) {
  if (job->paths != NULL)
    for (size_t i = 0; i < job->count; i++) free(job->paths[i]);
  free(job->paths);
  free(job->capacities);
  free(job->results);
  if (job->keep != NULL) napi_delete_reference(env, job->keep);
  if (job->work != NULL) napi_delete_async_work(env, job->work);
  free(job);
}

static void read_complete(napi_env env, napi_status status, void *data) {
  read_job *job = data;
  settle_int32_results(env, status, job->deferred, job->results, job->count, "readFiles");
  free_job(env, job);
}

static napi_value bad_arguments(napi_env env, read_job *job) {
  free_job(env, job);
  napi_throw_type_error(env, NULL, "readFiles(paths, flags, into, capacities): bad arguments");
  return NULL;
}

napi_value read_files(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  uint32_t count = 0;
  int32_t flags = 0;
  read_job *job = calloc(1, sizeof(read_job));
  if (job == NULL) {
    napi_throw_error(env, "ENOMEM", "readFiles: out of memory");
    return NULL;
  }
  void *into = NULL;
  size_t into_length = 0;
  napi_typedarray_type type;
  size_t capacities_count = 0;
  void *capacities = NULL;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 4 ||
      napi_get_array_length(env, args[0], &count) != napi_ok ||
      napi_get_value_int32(env, args[1], &flags) != napi_ok ||
      napi_get_buffer_info(env, args[2], &into, &into_length) != napi_ok ||
      napi_get_typedarray_info(env, args[3], &type, &capacities_count, &capacities, NULL,
                               NULL) != napi_ok ||
      type != napi_uint32_array || capacities_count != count)
    return bad_arguments(env, job);
  job->count = count;
  job->flags = flags;
  job->into = into;
  job->paths = calloc(count > 0 ? count : 1, sizeof(char *));
  job->capacities = malloc((count > 0 ? count : 1) * sizeof(uint32_t));
  job->results = calloc(count > 0 ? count : 1, sizeof(int32_t));
  if (job->paths == NULL || job->capacities == NULL || job->results == NULL) {
    free_job(env, job);
    napi_throw_error(env, "ENOMEM", "readFiles: out of memory");
    return NULL;
  }
  /* Copied: the caller's typed array may change while the work runs. */
  if (count > 0) memcpy(job->capacities, capacities, count * sizeof(uint32_t));
  uint64_t total = 0;
  for (uint32_t i = 0; i < count; i++) {
    total += job->capacities[i];
    /* A slot's byte count must fit the answer's int32, and every slot the buffer. */
    if (job->capacities[i] > INT32_MAX) return bad_arguments(env, job);
    job->paths[i] = path_copy(env, args[0], i);
    if (job->paths[i] == NULL) return bad_arguments(env, job);
  }
  if (total > into_length) return bad_arguments(env, job);
  napi_value promise, name;
  if (napi_create_reference(env, args[2], 1, &job->keep) != napi_ok) return bad_arguments(env, job);
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "blindsync:readFiles", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, read_execute, read_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}
