/*
 * Writing a batch of small, already verified files in the thread pool, for restore. Each file
 * costs an open, a write, a futimens, a close and a rename (and an fchown and fchmod when
 * asked); done one call at a time from JavaScript these ran on the main thread, beside the
 * decryption and hashing, while the second core idled (docs/performance.md, "Restore of many
 * small files"). One call per batch here moves the system calls, and the kernel's work inside
 * them, to a thread of the libuv pool. (addon.c registers it.)
 *
 * writeFiles(temps: Buffer[], paths: Buffer[], contents: Buffer[], ints: Int32Array,
 *            seconds: BigInt64Array, sizes: Float64Array, fsync: boolean): Promise<Int32Array>
 * For file i: ints[5i..5i+4] = open mode, chmod mode (-1: none), uid and gid for fchown (-1:
 * none), mtime nanoseconds; seconds[i] the mtime's seconds; sizes[i] its final size, which
 * may exceed contents[i] (a trailing hole: ftruncate). temps[i] is created with
 * O_CREAT|O_EXCL|O_NOFOLLOW (never an existing name), written and completed, then renamed onto
 * paths[i], as restore writes every file: a process killed in between leaves only the
 * temporary name, never a short file under the real one. The answer holds each file's errno
 * (0 when in place); on any failure the temporary name is unlinked again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "addon.h"

#define INTS_PER_FILE 5

typedef struct {
  char *temp;
  char *path;
  const uint8_t *data;
  size_t length;
  int32_t ints[INTS_PER_FILE];
  int64_t seconds;
  off_t size;
} file_job;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref keep; /* the contents array, so its buffers outlive the work */
  size_t count;
  bool fsync;
  file_job *files;
  int32_t *errors;
} batch_job;

static int write_one(const file_job *file, bool do_fsync) {
  int fd = open(file->temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                (mode_t)file->ints[0]);
  if (fd < 0) return errno;
  int error = 0;
  size_t done = 0;
  while (error == 0 && done < file->length) {
    ssize_t n = pwrite(fd, file->data + done, file->length - done, (off_t)done);
    if (n < 0) {
      if (errno != EINTR) error = errno;
    } else if (n == 0) {
      error = EIO;
    } else {
      done += (size_t)n;
    }
  }
  if (error == 0 && file->size > (off_t)file->length && ftruncate(fd, file->size) != 0)
    error = errno;
  if (error == 0 && do_fsync && fsync(fd) != 0) error = errno;
  /* chown before chmod: chown clears the setuid and setgid bits. */
  if (error == 0 && (file->ints[2] >= 0 || file->ints[3] >= 0) &&
      fchown(fd, (uid_t)file->ints[2], (gid_t)file->ints[3]) != 0)
    error = errno;
  if (error == 0 && file->ints[1] >= 0 && fchmod(fd, (mode_t)file->ints[1]) != 0) error = errno;
  if (error == 0) {
    struct timespec times[2];
    times[0].tv_sec = (time_t)file->seconds;
    times[0].tv_nsec = file->ints[4];
    times[1] = times[0];
    if (futimens(fd, times) != 0) error = errno;
  }
  if (close(fd) != 0 && error == 0 && errno != EINTR) error = errno;
  /* rename() replaces a file or symlink at the real name and never follows one. */
  if (error == 0 && rename(file->temp, file->path) != 0) error = errno;
  if (error != 0) unlink(file->temp);
  return error;
}

static void batch_execute(napi_env env, void *data) {
  (void)env;
  batch_job *job = data;
  for (size_t i = 0; i < job->count; i++) job->errors[i] = write_one(&job->files[i], job->fsync);
}

static void free_batch(napi_env env, batch_job *job) {
  if (job->files != NULL)
    for (size_t i = 0; i < job->count; i++) {
      free(job->files[i].temp);
      free(job->files[i].path);
    }
  free(job->files);
  free(job->errors);
  if (job->keep != NULL) napi_delete_reference(env, job->keep);
  if (job->work != NULL) napi_delete_async_work(env, job->work);
  free(job);
}

static void batch_complete(napi_env env, napi_status status, void *data) {
  batch_job *job = data;
  settle_int32_results(env, status, job->deferred, job->errors, job->count, "writeFiles");
  free_batch(env, job);
}

static napi_value bad_arguments(napi_env env, batch_job *job) {
  free_batch(env, job);
  napi_throw_type_error(env, NULL,
                        "writeFiles(temps, paths, contents, ints, seconds, sizes, fsync): bad arguments");
  return NULL;
}

static bool typed_array_of(napi_env env, napi_value value, napi_typedarray_type want,
                           size_t length, void **data) {
  napi_typedarray_type type;
  size_t count = 0;
  return napi_get_typedarray_info(env, value, &type, &count, data, NULL, NULL) == napi_ok &&
         type == want && count == length;
}

napi_value write_files(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value args[7];
  uint32_t count = 0, paths_count = 0, contents_count = 0;
  batch_job *job = calloc(1, sizeof(batch_job));
  if (job == NULL) {
    napi_throw_error(env, "ENOMEM", "writeFiles: out of memory");
    return NULL;
  }
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 7 ||
      napi_get_array_length(env, args[0], &count) != napi_ok ||
      napi_get_array_length(env, args[1], &paths_count) != napi_ok ||
      napi_get_array_length(env, args[2], &contents_count) != napi_ok ||
      paths_count != count || contents_count != count ||
      napi_get_value_bool(env, args[6], &job->fsync) != napi_ok)
    return bad_arguments(env, job);
  int32_t *ints = NULL;
  int64_t *seconds = NULL;
  double *sizes = NULL;
  if (!typed_array_of(env, args[3], napi_int32_array, (size_t)count * INTS_PER_FILE,
                      (void **)&ints) ||
      !typed_array_of(env, args[4], napi_bigint64_array, count, (void **)&seconds) ||
      !typed_array_of(env, args[5], napi_float64_array, count, (void **)&sizes))
    return bad_arguments(env, job);
  job->count = count;
  job->files = calloc(count > 0 ? count : 1, sizeof(file_job));
  job->errors = calloc(count > 0 ? count : 1, sizeof(int32_t));
  if (job->files == NULL || job->errors == NULL) {
    free_batch(env, job);
    napi_throw_error(env, "ENOMEM", "writeFiles: out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value content_value;
    void *content = NULL;
    size_t content_length = 0;
    file_job *file = &job->files[i];
    file->temp = path_copy(env, args[0], i);
    file->path = path_copy(env, args[1], i);
    if (file->temp == NULL || file->path == NULL ||
        napi_get_element(env, args[2], i, &content_value) != napi_ok ||
        napi_get_buffer_info(env, content_value, &content, &content_length) != napi_ok ||
        sizes[i] < 0 || sizes[i] > 9007199254740991.0 || ints[i * INTS_PER_FILE + 4] < 0 ||
        ints[i * INTS_PER_FILE + 4] > 999999999)
      return bad_arguments(env, job);
    file->data = content;
    file->length = content_length;
    memcpy(file->ints, &ints[i * INTS_PER_FILE], sizeof(file->ints));
    file->seconds = seconds[i];
    file->size = (off_t)sizes[i];
  }
  napi_value promise, name;
  if (napi_create_reference(env, args[2], 1, &job->keep) != napi_ok) return bad_arguments(env, job);
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "blindsync:writeFiles", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, batch_execute, batch_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}
