/*
 * Lightning-indexer scores in float32 (docs/attention.md §3; reference `Indexer.forward` without FP8/Hadamard):
 *
 *   I[t, s] = Σ_j w[t, j] · ReLU(q[t, j, :] · k[s, :])        q [T, HI, DI], w [T, HI], k [S, DI]
 *
 * A direct kernel rather than sgemm + reduction. The query rows (t, j) are laid out once per call as 16-lane
 * vectors — each token's heads padded with zero queries and zero weights to a multiple of 16, the vectors padded
 * to a multiple of 4 — and stored transposed per chunk of 4 vectors: qT[chunk][d][4 × 16]. Keys are read straight
 * from the row-major cache and broadcast one dim at a time, 4 keys × 4 vectors of accumulators per step:
 *
 *   acc[key][v] += qT[chunk][d][v] · k[s + key][d]      (d = 0 .. DI−1: 16 FMAs per 4 vector loads + 4 broadcasts)
 *   I[t, s] += Σ_lanes w · max(acc, 0)                 over the vectors of token t (one horizontal sum per run)
 *
 * No packing pass over the keys (BLAS packs every key it multiplies) and no [T·HI, S] intermediate. Keys go in
 * blocks (L2-resident) while every chunk of queries (L1-resident) passes over them; grains of keys are shared by
 * 2 threads (attention_parallel.c; no BLAS calls inside, so they do not compete with OpenBLAS's threads).
 * One source, compiled for AVX-512 (4 keys per step), AVX2+FMA and baseline x86-64 (1 key per step) through GCC
 * vector extensions, picked at run time; DS_ATTENTION_ISA = avx2 | scalar caps the choice (tests compare paths).
 */
#pragma GCC optimize("fp-contract=fast")
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "attention_kernels.h"

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

#define LANES 16
#define CHUNK 4
/* Keys per block: 256 keys of 128 dims = 128 KiB, L2-resident while the query chunks pass over them. */
#define KEY_BLOCK 256

typedef struct {
  const float* qT; /* [chunks][DI][CHUNK · LANES], 64-byte aligned */
  const float* w;  /* [chunks · CHUNK · LANES] */
  const float* keys;
  int64_t tokens, dim, ld, chunks;
  /* Vectors per token (padded heads / 16). */
  int64_t vectors_per_token;
  float* scores;
} f32_job;

/* max(x, 0) lane-wise: x where x > 0, else +0 (a macro: 64-byte vectors are not passed by value). */
#define RELU(x) ((v16)((v16i)(x) & ((x) > zero)))

static inline __attribute__((always_inline)) float lane_sum(const float* x) {
  float total = 0.0f;
  for (int l = 0; l < LANES; l++) total += x[l];
  return total;
}

/* Adds Σ_lanes w · ReLU(acc[v]) of chunk c into the scores of key s, one horizontal sum per token run. */
static inline __attribute__((always_inline)) void reduce_key(const f32_job* job, int64_t c, const v16* acc,
                                                             int64_t s) {
  const v16 zero = {0};
  const v16* w = (const v16*)(job->w + c * CHUNK * LANES);
  int64_t token = (c * CHUNK) / job->vectors_per_token;
  v16 run = RELU(acc[0]) * w[0];
  for (int v = 1; v < CHUNK; v++) {
    const int64_t owner = (c * CHUNK + v) / job->vectors_per_token;
    const v16 part = RELU(acc[v]) * w[v];
    if (owner == token) {
      run += part;
      continue;
    }
    if (token < job->tokens) job->scores[token * job->ld + s] += lane_sum((const float*)&run);
    run = part;
    token = owner;
  }
  if (token < job->tokens) job->scores[token * job->ld + s] += lane_sum((const float*)&run);
}

/* `keys` (1 or 4) keys from s against the 4 vectors of chunk c. */
static inline __attribute__((always_inline)) void chunk_keys(const f32_job* job, int64_t c, int64_t s, int keys) {
  const int64_t dim = job->dim;
  const float* qc = job->qT + c * dim * CHUNK * LANES;
  const float* k0 = job->keys + s * dim;
  const float* k1 = keys > 1 ? k0 + dim : k0;
  const float* k2 = keys > 2 ? k0 + 2 * dim : k0;
  const float* k3 = keys > 3 ? k0 + 3 * dim : k0;
  v16 acc[4][CHUNK] = {{{0}}};
  for (int64_t d = 0; d < dim; d++) {
    const v16* q = (const v16*)(qc + d * CHUNK * LANES);
    const float a = k0[d], b = k1[d], e = k2[d], f = k3[d];
    for (int v = 0; v < CHUNK; v++) {
      acc[0][v] += q[v] * a;
      if (keys > 1) acc[1][v] += q[v] * b;
      if (keys > 2) acc[2][v] += q[v] * e;
      if (keys > 3) acc[3][v] += q[v] * f;
    }
  }
  for (int p = 0; p < keys; p++) reduce_key(job, c, acc[p], s + p);
}

/* All chunks' scores for keys [s_begin, s_end), `step` (1 or 4) keys at a time. */
static inline __attribute__((always_inline)) void score_range(void* context, int64_t s_begin, int64_t s_end,
                                                              int step) {
  const f32_job* job = context;
  for (int64_t b0 = s_begin; b0 < s_end; b0 += KEY_BLOCK) {
    const int64_t b1 = b0 + KEY_BLOCK < s_end ? b0 + KEY_BLOCK : s_end;
    for (int64_t c = 0; c < job->chunks; c++) {
      int64_t s = b0;
      for (; s + step <= b1; s += step) chunk_keys(job, c, s, step);
      for (; s < b1; s++) chunk_keys(job, c, s, 1);
    }
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
#define DS_X86 1
__attribute__((target("avx512f,fma"))) static void range_avx512(void* job, int64_t a, int64_t b) {
  score_range(job, a, b, 4);
}
__attribute__((target("avx2,fma"))) static void range_avx2(void* job, int64_t a, int64_t b) {
  score_range(job, a, b, 1);
}
#endif
static void range_baseline(void* job, int64_t a, int64_t b) { score_range(job, a, b, 1); }

static ds_attn_range_fn pick_range_fn(void) {
  const char* cap = getenv("DS_ATTENTION_ISA");
  if (cap != NULL && strcmp(cap, "scalar") == 0) return range_baseline;
#ifdef DS_X86
  __builtin_cpu_init();
  const bool avx2_only = cap != NULL && strcmp(cap, "avx2") == 0;
  if (!avx2_only && __builtin_cpu_supports("avx512f")) return range_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return range_avx2;
#endif
  return range_baseline;
}

/* Keys per grain of the two-thread loop, and multiply-adds below which one thread does it all. */
#define KEYS_PER_GRAIN (8 * KEY_BLOCK)
#ifndef MIN_WORK_FOR_THREADS
#define MIN_WORK_FOR_THREADS (1 << 22)
#endif

/* Lays q [T, HI, DI] and w [T, HI] out as padded, transposed vector chunks (see the file comment). */
static void layout_queries(const float* q, const float* w, int64_t tokens, int64_t heads, int64_t dim, int64_t vpt,
                           float* qT, float* wp) {
  const int64_t hp = vpt * LANES;
  for (int64_t t = 0; t < tokens; t++)
    for (int64_t j = 0; j < heads; j++) {
      const int64_t row = t * hp + j; /* flat padded row: vector row / 16, lane row % 16 */
      const int64_t chunk = row / (CHUNK * LANES), slot = row % (CHUNK * LANES);
      wp[row] = w[t * heads + j];
      for (int64_t d = 0; d < dim; d++) qT[(chunk * dim + d) * CHUNK * LANES + slot] = q[(t * heads + j) * dim + d];
    }
}

int ds_indexer_scores(const float* q, const float* w, const float* keys, int64_t tokens, int64_t heads,
                      int64_t dim, int64_t key_count, float* scores, int64_t ld) {
  if (tokens == 0 || key_count == 0) return DS_ATTN_OK;
  const int64_t vpt = (heads + LANES - 1) / LANES;
  const int64_t chunks = (tokens * vpt + CHUNK - 1) / CHUNK;
  const size_t q_floats = (size_t)(chunks * dim * CHUNK * LANES), w_floats = (size_t)(chunks * CHUNK * LANES);
  float* qT = aligned_alloc(64, sizeof(float) * q_floats);
  float* wp = aligned_alloc(64, sizeof(float) * w_floats);
  if (qT == NULL || wp == NULL) {
    free(qT);
    free(wp);
    return DS_ATTN_NO_MEMORY;
  }
  memset(qT, 0, sizeof(float) * q_floats);
  memset(wp, 0, sizeof(float) * w_floats);
  layout_queries(q, w, tokens, heads, dim, vpt, qT, wp);
  for (int64_t t = 0; t < tokens; t++) memset(scores + t * ld, 0, sizeof(float) * (size_t)key_count);
  f32_job job = {qT, wp, keys, tokens, dim, ld, chunks, vpt, scores};
  const bool threaded = key_count * chunks * CHUNK * LANES * dim >= MIN_WORK_FOR_THREADS;
  ds_attn_parallel(pick_range_fn(), &job, key_count, KEYS_PER_GRAIN, threaded);
  free(qT);
  free(wp);
  return DS_ATTN_OK;
}
