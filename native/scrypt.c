/*
 * scryptMix(b: Buffer, logN: number, r: number, p: number): Promise<Buffer>
 *
 * The memory-hard middle of scrypt (RFC 7914 section 5, steps 2 and 3: scryptROMix on each of
 * the p blocks of B), on a thread of the libuv pool. The two PBKDF2-HMAC-SHA256 steps around it
 * stay in node:crypto (src/crypto/kdf.ts), and the result is the same as node's crypto.scrypt
 * (src/crypto/kdf.test.ts compares them over many parameter sets, and checks RFC 7914's
 * vectors; kdf.ts compares them again at N = 16 in every process before trusting this code).
 *
 * Why not node's crypto.scrypt: OpenSSL takes its 128·r·N bytes (64 MiB at blindsync's
 * default N = 2^16, r = 8) from malloc, which maps them in 4 KiB pages: a page fault for each
 * of 16,384 pages on first touch, and a TLB miss for most of ROMix's random reads. Here the
 * array is mapped with MADV_HUGEPAGE (2 MiB pages where the kernel allows them) and wiped
 * before it is unmapped, as OpenSSL does. Measured at N = 2^16 on the project's machine, in a
 * fresh process: about half the CPU time of node's scrypt (docs/dependencies.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "addon.h"

#define HUGE_PAGE (2u * 1024 * 1024)

static uint32_t le32dec(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void le32enc(uint8_t *p, uint32_t x) {
  p[0] = (uint8_t)x;
  p[1] = (uint8_t)(x >> 8);
  p[2] = (uint8_t)(x >> 16);
  p[3] = (uint8_t)(x >> 24);
}

#define ROTL(a, b) (((a) << (b)) | ((a) >> (32 - (b))))

/* Salsa20/8 core (RFC 7914 section 3), in place on 16 words. */
static void salsa20_8(uint32_t b[16]) {
  uint32_t x[16];
  memcpy(x, b, sizeof(x));
  for (int i = 0; i < 8; i += 2) {
    x[4] ^= ROTL(x[0] + x[12], 7);
    x[8] ^= ROTL(x[4] + x[0], 9);
    x[12] ^= ROTL(x[8] + x[4], 13);
    x[0] ^= ROTL(x[12] + x[8], 18);
    x[9] ^= ROTL(x[5] + x[1], 7);
    x[13] ^= ROTL(x[9] + x[5], 9);
    x[1] ^= ROTL(x[13] + x[9], 13);
    x[5] ^= ROTL(x[1] + x[13], 18);
    x[14] ^= ROTL(x[10] + x[6], 7);
    x[2] ^= ROTL(x[14] + x[10], 9);
    x[6] ^= ROTL(x[2] + x[14], 13);
    x[10] ^= ROTL(x[6] + x[2], 18);
    x[3] ^= ROTL(x[15] + x[11], 7);
    x[7] ^= ROTL(x[3] + x[15], 9);
    x[11] ^= ROTL(x[7] + x[3], 13);
    x[15] ^= ROTL(x[11] + x[7], 18);
    x[1] ^= ROTL(x[0] + x[3], 7);
    x[2] ^= ROTL(x[1] + x[0], 9);
    x[3] ^= ROTL(x[2] + x[1], 13);
    x[0] ^= ROTL(x[3] + x[2], 18);
    x[6] ^= ROTL(x[5] + x[4], 7);
    x[7] ^= ROTL(x[6] + x[5], 9);
    x[4] ^= ROTL(x[7] + x[6], 13);
    x[5] ^= ROTL(x[4] + x[7], 18);
    x[11] ^= ROTL(x[10] + x[9], 7);
    x[8] ^= ROTL(x[11] + x[10], 9);
    x[9] ^= ROTL(x[8] + x[11], 13);
    x[10] ^= ROTL(x[9] + x[8], 18);
    x[12] ^= ROTL(x[15] + x[14], 7);
    x[13] ^= ROTL(x[12] + x[15], 9);
    x[14] ^= ROTL(x[13] + x[12], 13);
    x[15] ^= ROTL(x[14] + x[13], 18);
  }
  for (int i = 0; i < 16; i++) b[i] += x[i];
}

/* scryptBlockMix (RFC 7914 section 4) of the 2r blocks in b, with y as scratch. */
static void block_mix(uint32_t *b, uint32_t *y, size_t r) {
  uint32_t x[16];
  memcpy(x, &b[(2 * r - 1) * 16], sizeof(x));
  for (size_t i = 0; i < 2 * r; i++) {
    for (int k = 0; k < 16; k++) x[k] ^= b[i * 16 + k];
    salsa20_8(x);
    memcpy(&y[i * 16], x, sizeof(x));
  }
  for (size_t i = 0; i < r; i++) {
    memcpy(&b[i * 16], &y[(2 * i) * 16], sizeof(x));
    memcpy(&b[(i + r) * 16], &y[(2 * i + 1) * 16], sizeof(x));
  }
}

/* scryptROMix (RFC 7914 section 5) of one 128·r-byte block, in place. */
static void ro_mix(uint8_t *block, size_t r, uint64_t n, uint32_t *v, uint32_t *xy) {
  size_t words = 32 * r;
  uint32_t *x = xy;
  uint32_t *y = xy + words;
  for (size_t k = 0; k < words; k++) x[k] = le32dec(&block[4 * k]);
  for (uint64_t i = 0; i < n; i++) {
    memcpy(&v[i * words], x, words * sizeof(uint32_t));
    block_mix(x, y, r);
  }
  for (uint64_t i = 0; i < n; i++) {
    /* Integerify: the last 64-byte block's first word; N is at most 2^32, so it suffices. */
    uint64_t j = x[(2 * r - 1) * 16] & (n - 1);
    const uint32_t *vj = &v[j * words];
    for (size_t k = 0; k < words; k++) x[k] ^= vj[k];
    block_mix(x, y, r);
  }
  for (size_t k = 0; k < words; k++) le32enc(&block[4 * k], x[k]);
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  uint8_t *b;
  size_t length;
  uint32_t log_n;
  uint32_t r;
  uint32_t p;
  int error;
} mix_job;

static void mix_execute(napi_env env, void *data) {
  (void)env;
  mix_job *job = data;
  uint64_t n = (uint64_t)1 << job->log_n;
  size_t v_bytes = (size_t)128 * job->r * n;
  size_t mapped = v_bytes + HUGE_PAGE;
  uint8_t *region = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint32_t *xy = calloc(64 * (size_t)job->r, sizeof(uint32_t));
  if (region == MAP_FAILED || xy == NULL) {
    job->error = ENOMEM;
    if (region != MAP_FAILED) munmap(region, mapped);
    free(xy);
    return;
  }
  /* Huge pages need 2 MiB alignment: the mapping has room to start V on a boundary. */
  uint8_t *aligned = (uint8_t *)(((uintptr_t)region + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  madvise(aligned, v_bytes, MADV_HUGEPAGE); /* a hint: without it, 4 KiB pages as before */
  for (uint32_t i = 0; i < job->p; i++)
    ro_mix(job->b + (size_t)i * 128 * job->r, job->r, n, (uint32_t *)aligned, xy);
  explicit_bzero(aligned, v_bytes);
  explicit_bzero(xy, 64 * (size_t)job->r * sizeof(uint32_t));
  munmap(region, mapped);
  free(xy);
}

static void mix_complete(napi_env env, napi_status status, void *data) {
  mix_job *job = data;
  napi_value result;
  if (status != napi_ok || job->error != 0) {
    napi_value message, error;
    const char *text = job->error == ENOMEM ? "scryptMix: out of memory" : "scryptMix failed";
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, job->deferred, error);
  } else if (napi_create_buffer_copy(env, job->length, job->b, NULL, &result) == napi_ok) {
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    napi_value message, error;
    napi_create_string_utf8(env, "scryptMix: cannot return the result", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, job->deferred, error);
  }
  explicit_bzero(job->b, job->length);
  free(job->b);
  napi_delete_async_work(env, job->work);
  free(job);
}

napi_value scrypt_mix(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  void *data = NULL;
  size_t length = 0;
  uint32_t log_n = 0, r = 0, p = 0;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 4 ||
      napi_get_buffer_info(env, args[0], &data, &length) != napi_ok ||
      napi_get_value_uint32(env, args[1], &log_n) != napi_ok ||
      napi_get_value_uint32(env, args[2], &r) != napi_ok ||
      napi_get_value_uint32(env, args[3], &p) != napi_ok || log_n < 1 || log_n > 24 || r < 1 ||
      r > 64 || p < 1 || p > 64 || length != (size_t)128 * r * p) {
    napi_throw_type_error(env, NULL,
                          "scryptMix(b: Buffer of 128·r·p bytes, logN 1-24, r 1-64, p 1-64)");
    return NULL;
  }
  mix_job *job = calloc(1, sizeof(mix_job));
  uint8_t *copy = malloc(length);
  if (job == NULL || copy == NULL) {
    free(job);
    free(copy);
    napi_throw_error(env, "ENOMEM", "scryptMix: out of memory");
    return NULL;
  }
  memcpy(copy, data, length);
  job->b = copy;
  job->length = length;
  job->log_n = log_n;
  job->r = r;
  job->p = p;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "blindsync:scryptMix", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, mix_execute, mix_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}
