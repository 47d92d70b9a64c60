/*
 * The absorbed up-projections of MLA's MQA mode (docs/attention.md §5), with Wkv_b in the reference layout
 * [H · (nope + v), kv_lora]: rows h·(nope + v) .. + nope − 1 are W_UK[h], the next v rows are W_UV[h].
 *
 *   query:  q_abs[t, h] = [ q[t, h, :nope] · W_UK[h] ; q[t, h, nope:] ]         q [T, H, nope + rope] → [T, H, kv_lora + rope]
 *   output: o[t, h]     = o_lat[t, h] · W_UV[h]ᵀ                                o_lat [T, H, kv_lora] → [T, H, v]
 *
 * Per-head products with few rows (T = 1 when decoding) are memory-bound on the 256 KiB of weights per head; one
 * call over all heads (split over 2 threads) instead of a BLAS call per head avoids BLAS's per-call thread
 * start-up, which dominates at these sizes. Loops are plain C that GCC vectorises (AVX-512 / AVX2 / baseline clones).
 */
#pragma GCC optimize("fp-contract=fast")
#include <string.h>

#include "attention_kernels.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define DS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DS_CLONES
#endif

#define LANES 16

/* out[c] += a · row[c] for c < n. */
DS_CLONES static void axpy(float* restrict out, const float* restrict row, int64_t n, float a) {
  for (int64_t c = 0; c < n; c++) out[c] += a * row[c];
}

/* Σ_c x[c] · y[c] with 16 partial sums. */
DS_CLONES static float dot(const float* restrict x, const float* restrict y, int64_t n) {
  float lanes[LANES] = {0};
  int64_t c = 0;
  for (; c + LANES <= n; c += LANES)
    for (int l = 0; l < LANES; l++) lanes[l] += x[c + l] * y[c + l];
  float total = 0.0f;
  for (int l = 0; l < LANES; l++) total += lanes[l];
  for (; c < n; c++) total += x[c] * y[c];
  return total;
}

typedef struct {
  const ds_absorb_shape* shape;
  const float* in;
  const float* wkv_b;
  float* out;
} absorb_job;

static void query_heads(void* context, int64_t h_begin, int64_t h_end) {
  const absorb_job* job = context;
  const ds_absorb_shape* s = job->shape;
  const int64_t qk = s->nope + s->rope, width = s->kv_lora + s->rope;
  for (int64_t h = h_begin; h < h_end; h++) {
    const float* w_uk = job->wkv_b + h * (s->nope + s->value_dim) * s->kv_lora;
    for (int64_t t = 0; t < s->tokens; t++) {
      const float* q = job->in + (t * s->heads + h) * qk;
      float* out = job->out + (t * s->heads + h) * width;
      memset(out, 0, sizeof(float) * (size_t)s->kv_lora);
      for (int64_t n = 0; n < s->nope; n++) axpy(out, w_uk + n * s->kv_lora, s->kv_lora, q[n]);
      memcpy(out + s->kv_lora, q + s->nope, sizeof(float) * (size_t)s->rope);
    }
  }
}

static void output_heads(void* context, int64_t h_begin, int64_t h_end) {
  const absorb_job* job = context;
  const ds_absorb_shape* s = job->shape;
  for (int64_t h = h_begin; h < h_end; h++) {
    const float* w_uv = job->wkv_b + (h * (s->nope + s->value_dim) + s->nope) * s->kv_lora;
    for (int64_t t = 0; t < s->tokens; t++) {
      const float* latent = job->in + (t * s->heads + h) * s->kv_lora;
      float* out = job->out + (t * s->heads + h) * s->value_dim;
      for (int64_t r = 0; r < s->value_dim; r++) out[r] = dot(latent, w_uv + r * s->kv_lora, s->kv_lora);
    }
  }
}

/* Heads per grain of the two-thread loop. */
#define HEADS_PER_GRAIN 8

void ds_absorb_query(const ds_absorb_shape* shape, const float* q, const float* wkv_b, float* q_abs) {
  absorb_job job = {shape, q, wkv_b, q_abs};
  ds_attn_parallel(query_heads, &job, shape->heads, HEADS_PER_GRAIN, true);
}

void ds_absorb_output(const ds_absorb_shape* shape, const float* latent, const float* wkv_b, float* out) {
  absorb_job job = {shape, latent, wkv_b, out};
  ds_attn_parallel(output_heads, &job, shape->heads, HEADS_PER_GRAIN, true);
}
