/*
 * Lightning-indexer scores over an 8-bit key cache (the float32 counterpart of the paper's FP8 indexer,
 * docs/attention.md §3: the reference's `act_quant` + `fp8_index`; here symmetric int8 with one float scale per row):
 *
 *   k[s] ≈ k8[s] · ks[s],   ks[s] = max_d |k[s, d]| / 127        (quantised once, when the key is cached)
 *   q[t, j] ≈ q8[t, j] · qs[t, j]                                  (quantised per call, per token and head)
 *   I[t, s] = ks[s] · Σ_j (w[t, j] · qs[t, j]) · ReLU(q8[t, j] · k8[s])      (ReLU commutes with the positive scales)
 *
 * The dot products q8 · k8 are exact in int32 (|q8|, |k8| ≤ 127, DI ≤ 2^16). Keys are stored PACKED for the
 * integer dot-product instructions: blocks of 16 keys, inside a block groups of 4 consecutive dims, each group
 * holding its 4 bytes for each of the 16 keys in turn:
 *
 *   byte of (s, d) = (s / 16) · 16·DI + (d / 4) · 64 + (s % 16) · 4 + d % 4          (DI a multiple of 4)
 *
 * so one 64-byte load holds 4 dims of 16 keys and a broadcast 4-byte group of the query multiplies all 16 at
 * once (AVX-512 VNNI vpdpbusd; AVX2 vpmaddubsw with the sign trick; a scalar loop elsewhere; the environment
 * variable DS_ATTENTION_ISA = avx2 | scalar caps the choice, for tests). Each token's query rows are padded with
 * zero rows to a multiple of 8, so the vector paths run fixed-size steps with 8 independent accumulator chains
 * (a dependent chain of vpdpbusd waits its 5-cycle latency on every step). Grains of key blocks are shared by 2
 * threads (attention_parallel.c; OpenBLAS is not involved, so they do not compete with its threads).
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "attention_kernels.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define DS_X86 1
#endif

#define KEYS_PER_BLOCK 16
/* Query rows per step of the vector paths; each token's heads are padded to a multiple of it with zero rows. */
#define ROW_GROUP 8

int64_t ds_packed_i8_offset(int64_t s, int64_t d, int64_t dim) {
  return (s / KEYS_PER_BLOCK) * KEYS_PER_BLOCK * dim + (d / 4) * 64 + (s % KEYS_PER_BLOCK) * 4 + d % 4;
}

/* Symmetric int8 of n values: out = round(x / scale), returns scale = max |x| / 127 (1 for an all-zero row). */
static float quantize_row(const float* x, int64_t n, int8_t* out, int64_t stride) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
  const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
  const float inverse = 1.0f / scale;
  for (int64_t i = 0; i < n; i++) {
    const float r = nearbyintf(x[i] * inverse);
    out[i * stride] = (int8_t)(r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r);
  }
  return scale;
}

void ds_quantize_rows_i8(const float* keys, int64_t rows, int64_t dim, int64_t first, int8_t* keys8, float* scale) {
  int8_t row8[4096];
  for (int64_t r = 0; r < rows; r++) {
    const int64_t s = first + r;
    scale[s] = quantize_row(keys + r * dim, dim, row8, 1);
    for (int64_t d = 0; d < dim; d++) keys8[ds_packed_i8_offset(s, d, dim)] = row8[d];
  }
}

typedef struct {
  const int8_t* q8;    /* [R, DI], R = T·HI query rows */
  const float* qw;     /* [R]: w · qs */
  const int32_t* qsum; /* [R]: Σ_d q8 (the VNNI path's correction for its unsigned operand) */
  const int8_t* keys8; /* packed */
  const float* key_scale;
  int64_t tokens, heads /* rows per token, padded to ROW_GROUP */, dim, key_count, ld;
  float* scores;
} i8_job;

/* acc[l] (l < 16) = Σ_j qw[j] · ReLU(q8[j] · k8[block key l]) for the HI rows of one token. Scalar reference. */
static void block_scores_scalar(const i8_job* job, const int8_t* block, const int8_t* q8, const float* qw,
                                const int32_t* qsum, float* acc) {
  (void)qsum;
  for (int l = 0; l < KEYS_PER_BLOCK; l++) acc[l] = 0.0f;
  for (int64_t j = 0; j < job->heads; j++) {
    const int8_t* qj = q8 + j * job->dim;
    for (int l = 0; l < KEYS_PER_BLOCK; l++) {
      int32_t dot = 0;
      for (int64_t g = 0; g < job->dim / 4; g++)
        for (int e = 0; e < 4; e++) dot += (int32_t)block[g * 64 + l * 4 + e] * (int32_t)qj[g * 4 + e];
      acc[l] += qw[j] * (float)(dot > 0 ? dot : 0);
    }
  }
}

#ifdef DS_X86
/* The 4-byte group g of query row r, broadcast to every 32-bit lane (folds into vpdpbusd's {1to16} operand). */
typedef int32_t __attribute__((may_alias, aligned(1))) group_bytes;
#define QUERY_GROUP(q, r, dim, g) (*(const group_bytes*)((q) + (r) * (dim) + (g) * 4))

__attribute__((target("avx512f,avx512vnni"))) static void block_scores_vnni(const i8_job* job, const int8_t* block,
                                                                            const int8_t* q8, const float* qw,
                                                                            const int32_t* qsum, float* acc) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  const int64_t groups = job->dim / 4, dim = job->dim;
  __m512 total = _mm512_setzero_ps();
  /* Rows in groups of ROW_GROUP (the caller pads them with zero queries): 8 independent accumulator chains. */
  for (int64_t j0 = 0; j0 < job->heads; j0 += ROW_GROUP) {
    const int8_t* q = q8 + j0 * dim;
    __m512i dot[ROW_GROUP];
#pragma GCC unroll 8
    for (int r = 0; r < ROW_GROUP; r++) dot[r] = _mm512_setzero_si512();
    for (int64_t g = 0; g < groups; g++) {
      /* k8 + 128 as unsigned bytes: dpbusd multiplies unsigned (keys) by signed (query) bytes. */
      const __m512i keys = _mm512_xor_si512(_mm512_loadu_si512((const void*)(block + g * 64)), flip);
#pragma GCC unroll 8
      for (int r = 0; r < ROW_GROUP; r++)
        dot[r] = _mm512_dpbusd_epi32(dot[r], keys, _mm512_set1_epi32(QUERY_GROUP(q, r, dim, g)));
    }
#pragma GCC unroll 8
    for (int r = 0; r < ROW_GROUP; r++) {
      const __m512i exact = _mm512_sub_epi32(dot[r], _mm512_set1_epi32(128 * qsum[j0 + r]));
      const __m512 relu = _mm512_cvtepi32_ps(_mm512_max_epi32(exact, _mm512_setzero_si512()));
      total = _mm512_fmadd_ps(_mm512_set1_ps(qw[j0 + r]), relu, total);
    }
  }
  _mm512_storeu_ps(acc, total);
}

__attribute__((target("avx2,fma"))) static void block_scores_avx2(const i8_job* job, const int8_t* block,
                                                                  const int8_t* q8, const float* qw,
                                                                  const int32_t* qsum, float* acc) {
  (void)qsum;
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t groups = job->dim / 4, dim = job->dim;
  __m256 total[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  /* 4 rows × 2 halves of 8 keys: 8 accumulators (16 ymm registers in all); heads are padded to ROW_GROUP. */
  for (int64_t j0 = 0; j0 < job->heads; j0 += 4) {
    const int8_t* q = q8 + j0 * dim;
    __m256i dot[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) dot[r][0] = dot[r][1] = _mm256_setzero_si256();
    for (int64_t g = 0; g < groups; g++) {
      const __m256i keys0 = _mm256_loadu_si256((const __m256i*)(block + g * 64));
      const __m256i keys1 = _mm256_loadu_si256((const __m256i*)(block + g * 64 + 32));
      /* |k| (unsigned) times sign(k)·q (signed): each byte pair sums to at most 2·127·127, no saturation. */
      const __m256i magnitude0 = _mm256_sign_epi8(keys0, keys0), magnitude1 = _mm256_sign_epi8(keys1, keys1);
#pragma GCC unroll 4
      for (int r = 0; r < 4; r++) {
        const __m256i group = _mm256_set1_epi32(QUERY_GROUP(q, r, dim, g));
        const __m256i pairs0 = _mm256_maddubs_epi16(magnitude0, _mm256_sign_epi8(group, keys0));
        const __m256i pairs1 = _mm256_maddubs_epi16(magnitude1, _mm256_sign_epi8(group, keys1));
        dot[r][0] = _mm256_add_epi32(dot[r][0], _mm256_madd_epi16(pairs0, ones));
        dot[r][1] = _mm256_add_epi32(dot[r][1], _mm256_madd_epi16(pairs1, ones));
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
      for (int half = 0; half < 2; half++) {
        const __m256 relu = _mm256_cvtepi32_ps(_mm256_max_epi32(dot[r][half], _mm256_setzero_si256()));
        total[half] = _mm256_fmadd_ps(_mm256_set1_ps(qw[j0 + r]), relu, total[half]);
      }
  }
  _mm256_storeu_ps(acc, total[0]);
  _mm256_storeu_ps(acc + 8, total[1]);
}
#endif

typedef void (*block_fn)(const i8_job*, const int8_t*, const int8_t*, const float*, const int32_t*, float*);

/* The best path the CPU has; DS_ATTENTION_ISA = "avx2" or "scalar" caps it (tests compare the paths). */
static block_fn pick_block_fn(void) {
  const char* cap = getenv("DS_ATTENTION_ISA");
  const bool scalar_only = cap != NULL && strcmp(cap, "scalar") == 0;
  if (scalar_only) return block_scores_scalar;
#ifdef DS_X86
  const bool avx2_only = cap != NULL && strcmp(cap, "avx2") == 0;
  __builtin_cpu_init();
  if (!avx2_only && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni")) return block_scores_vnni;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return block_scores_avx2;
#endif
  return block_scores_scalar;
}

const char* ds_indexer_i8_path(void) {
  const block_fn fn = pick_block_fn();
#ifdef DS_X86
  if (fn == block_scores_vnni) return "avx512-vnni";
  if (fn == block_scores_avx2) return "avx2";
#endif
  return fn == block_scores_scalar ? "scalar" : "unknown";
}

/* The job plus the block function picked for this CPU (the context of the two-thread loop). */
typedef struct {
  const i8_job* job;
  block_fn fn;
} i8_task;

/* Scores of key blocks [first_block, end_block) for every token. */
static void score_blocks(void* context, int64_t first_block, int64_t end_block) {
  const i8_task* task = context;
  const i8_job* job = task->job;
  float acc[KEYS_PER_BLOCK];
  for (int64_t b = first_block; b < end_block; b++) {
    const int8_t* block = job->keys8 + b * KEYS_PER_BLOCK * job->dim;
    const int64_t s0 = b * KEYS_PER_BLOCK;
    const int64_t n = job->key_count - s0 < KEYS_PER_BLOCK ? job->key_count - s0 : KEYS_PER_BLOCK;
    for (int64_t t = 0; t < job->tokens; t++) {
      const int64_t row = t * job->heads;
      task->fn(job, block, job->q8 + row * job->dim, job->qw + row, job->qsum + row, acc);
      float* out = job->scores + t * job->ld + s0;
      for (int64_t l = 0; l < n; l++) out[l] = acc[l] * job->key_scale[s0 + l];
    }
  }
}

/* Key blocks per grain of the two-thread loop (2048 keys), and the fewest blocks worth a second thread. */
#define BLOCKS_PER_GRAIN 128
#define MIN_BLOCKS_FOR_THREADS 128

int ds_indexer_scores_i8(const float* q, const float* w, const int8_t* keys8, const float* key_scale,
                         int64_t tokens, int64_t heads, int64_t dim, int64_t key_count, float* scores, int64_t ld) {
  if (tokens == 0 || key_count == 0) return DS_ATTN_OK;
  /* Rows per token padded with zero queries and zero weights (they add exactly 0). */
  const int64_t padded = (heads + ROW_GROUP - 1) / ROW_GROUP * ROW_GROUP, rows = tokens * padded;
  int8_t* q8 = calloc((size_t)(rows * dim), 1);
  float* qw = calloc((size_t)rows, sizeof(float));
  int32_t* qsum = calloc((size_t)rows, sizeof(int32_t));
  if (q8 == NULL || qw == NULL || qsum == NULL) {
    free(q8);
    free(qw);
    free(qsum);
    return DS_ATTN_NO_MEMORY;
  }
  for (int64_t t = 0; t < tokens; t++)
    for (int64_t j = 0; j < heads; j++) {
      const int64_t r = t * padded + j;
      qw[r] = w[t * heads + j] * quantize_row(q + (t * heads + j) * dim, dim, q8 + r * dim, 1);
      int32_t sum = 0;
      for (int64_t d = 0; d < dim; d++) sum += q8[r * dim + d];
      qsum[r] = sum;
    }
  const i8_job job = {q8, qw, qsum, keys8, key_scale, tokens, padded, dim, key_count, ld, scores};
  i8_task task = {&job, pick_block_fn()};
  const int64_t blocks = (key_count + KEYS_PER_BLOCK - 1) / KEYS_PER_BLOCK;
  ds_attn_parallel(score_blocks, &task, blocks, BLOCKS_PER_GRAIN, blocks >= MIN_BLOCKS_FOR_THREADS);
  free(q8);
  free(qw);
  free(qsum);
  return DS_ATTN_OK;
}
