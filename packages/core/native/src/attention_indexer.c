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

#define LANES 16
#define CHUNK 4
#define CHUNK_ROWS (CHUNK * LANES)
/* Keys per block: 256 keys of 128 dims = 128 KiB, L2-resident while the query chunks pass over them. */
#define KEY_BLOCK 256

typedef struct {
  const float* qT; /* [chunks][DI][CHUNK_ROWS], 64-byte aligned */
  const float* w;  /* [chunks · CHUNK_ROWS] */
  const float* keys;
  int64_t tokens, dim, ld, chunks;
  /* Vectors per token (padded heads / 16). */
  int64_t vectors_per_token;
  float* scores;
} f32_job;

/*
 * Adds part[v] (v < CHUNK: Σ over the 16 lanes of vector v of chunk c, already ReLU'd and weighted) into the scores
 * of key s, one add per token: vector v belongs to token (c · CHUNK + v) / vectors_per_token.
 */
static inline __attribute__((always_inline)) void add_parts(const f32_job* job, int64_t c, const float* part,
                                                            int64_t s) {
  for (int v = 0; v < CHUNK; v++) {
    const int64_t token = (c * CHUNK + v) / job->vectors_per_token;
    if (token < job->tokens) job->scores[token * job->ld + s] += part[v];
  }
}

/* Portable path: 64 lane sums per key in plain C (GCC vectorises it for the baseline ISA). */
static void chunk_key_portable(const f32_job* job, int64_t c, int64_t s) {
  const float* qc = job->qT + c * job->dim * CHUNK_ROWS;
  const float* k = job->keys + s * job->dim;
  float acc[CHUNK_ROWS] = {0};
  for (int64_t d = 0; d < job->dim; d++)
    for (int l = 0; l < CHUNK_ROWS; l++) acc[l] += qc[d * CHUNK_ROWS + l] * k[d];
  const float* w = job->w + c * CHUNK_ROWS;
  float part[CHUNK] = {0};
  for (int l = 0; l < CHUNK_ROWS; l++) part[l / LANES] += (acc[l] > 0.0f ? acc[l] : 0.0f) * w[l];
  add_parts(job, c, part, s);
}

static void range_portable(void* context, int64_t s_begin, int64_t s_end) {
  const f32_job* job = context;
  for (int64_t b0 = s_begin; b0 < s_end; b0 += KEY_BLOCK) {
    const int64_t b1 = b0 + KEY_BLOCK < s_end ? b0 + KEY_BLOCK : s_end;
    for (int64_t c = 0; c < job->chunks; c++)
      for (int64_t s = b0; s < b1; s++) chunk_key_portable(job, c, s);
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define DS_X86 1

/*
 * AVX-512: `keys` keys (4, or 1 for the remainder; a constant once inlined) × the 4 zmm vectors of chunk c, so up
 * to 16 accumulators; per dim 4 query loads and 4 key broadcasts feed 16 FMAs.
 */
__attribute__((target("avx512f,fma"), always_inline)) static inline void chunk_keys_avx512(const f32_job* job,
                                                                                         int64_t c, int64_t s,
                                                                                         const int keys) {
  const int64_t dim = job->dim;
  const float* qc = job->qT + c * dim * CHUNK_ROWS;
  const float* k = job->keys + s * dim;
  __m512 acc[4][CHUNK];
#pragma GCC unroll 4
  for (int p = 0; p < keys; p++)
#pragma GCC unroll 4
    for (int v = 0; v < CHUNK; v++) acc[p][v] = _mm512_setzero_ps();
  for (int64_t d = 0; d < dim; d++) {
    const float* q = qc + d * CHUNK_ROWS;
    const __m512 q0 = _mm512_load_ps(q), q1 = _mm512_load_ps(q + 16);
    const __m512 q2 = _mm512_load_ps(q + 32), q3 = _mm512_load_ps(q + 48);
#pragma GCC unroll 4
    for (int p = 0; p < keys; p++) {
      const __m512 b = _mm512_set1_ps(k[p * dim + d]);
      acc[p][0] = _mm512_fmadd_ps(q0, b, acc[p][0]);
      acc[p][1] = _mm512_fmadd_ps(q1, b, acc[p][1]);
      acc[p][2] = _mm512_fmadd_ps(q2, b, acc[p][2]);
      acc[p][3] = _mm512_fmadd_ps(q3, b, acc[p][3]);
    }
  }
  const float* w = job->w + c * CHUNK_ROWS;
#pragma GCC unroll 4
  for (int p = 0; p < keys; p++) {
    float part[CHUNK];
#pragma GCC unroll 4
    for (int v = 0; v < CHUNK; v++) {
      const __m512 relu = _mm512_max_ps(acc[p][v], _mm512_setzero_ps());
      part[v] = _mm512_reduce_add_ps(_mm512_mul_ps(relu, _mm512_load_ps(w + v * LANES)));
    }
    add_parts(job, c, part, s + p);
  }
}

__attribute__((target("avx512f,fma"))) static void range_avx512(void* context, int64_t s_begin, int64_t s_end) {
  const f32_job* job = context;
  for (int64_t b0 = s_begin; b0 < s_end; b0 += KEY_BLOCK) {
    const int64_t b1 = b0 + KEY_BLOCK < s_end ? b0 + KEY_BLOCK : s_end;
    for (int64_t c = 0; c < job->chunks; c++) {
      int64_t s = b0;
      for (; s + 4 <= b1; s += 4) chunk_keys_avx512(job, c, s, 4);
      for (; s < b1; s++) chunk_keys_avx512(job, c, s, 1);
    }
  }
}

/*
 * AVX2 + FMA (16 ymm registers): one key × the 8 ymm vectors of chunk c, 8 accumulators; per dim one key
 * broadcast and 8 FMAs with their query operand from memory (L1).
 */
__attribute__((target("avx2,fma"))) static void chunk_key_avx2(const f32_job* job, int64_t c, int64_t s) {
  const int64_t dim = job->dim;
  const float* qc = job->qT + c * dim * CHUNK_ROWS;
  const float* k = job->keys + s * dim;
  __m256 acc[8];
#pragma GCC unroll 8
  for (int v = 0; v < 8; v++) acc[v] = _mm256_setzero_ps();
  for (int64_t d = 0; d < dim; d++) {
    const float* q = qc + d * CHUNK_ROWS;
    const __m256 b = _mm256_broadcast_ss(k + d);
#pragma GCC unroll 8
    for (int v = 0; v < 8; v++) acc[v] = _mm256_fmadd_ps(_mm256_load_ps(q + v * 8), b, acc[v]);
  }
  const float* w = job->w + c * CHUNK_ROWS;
  float part[CHUNK];
#pragma GCC unroll 4
  for (int v = 0; v < CHUNK; v++) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 lo = _mm256_mul_ps(_mm256_max_ps(acc[2 * v], zero), _mm256_load_ps(w + v * LANES));
    const __m256 hi = _mm256_mul_ps(_mm256_max_ps(acc[2 * v + 1], zero), _mm256_load_ps(w + v * LANES + 8));
    const __m256 both = _mm256_add_ps(lo, hi);
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(both), _mm256_extractf128_ps(both, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    part[v] = _mm_cvtss_f32(x);
  }
  add_parts(job, c, part, s);
}

__attribute__((target("avx2,fma"))) static void range_avx2(void* context, int64_t s_begin, int64_t s_end) {
  const f32_job* job = context;
  for (int64_t b0 = s_begin; b0 < s_end; b0 += KEY_BLOCK) {
    const int64_t b1 = b0 + KEY_BLOCK < s_end ? b0 + KEY_BLOCK : s_end;
    for (int64_t c = 0; c < job->chunks; c++)
      for (int64_t s = b0; s < b1; s++) chunk_key_avx2(job, c, s);
  }
}
#endif

static ds_attn_range_fn pick_range_fn(void) {
  const char* cap = getenv("DS_ATTENTION_ISA");
  if (cap != NULL && strcmp(cap, "scalar") == 0) return range_portable;
#ifdef DS_X86
  __builtin_cpu_init();
  const bool avx2_only = cap != NULL && strcmp(cap, "avx2") == 0;
  if (!avx2_only && __builtin_cpu_supports("avx512f")) return range_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return range_avx2;
#endif
  return range_portable;
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
