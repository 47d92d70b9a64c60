/*
 * Dense MLA attention baselines in float32 (docs/attention.md §5), each at its best on a CPU: cblas_sgemm for every
 * product, keys taken in blocks with an online softmax (flash-attention style) so the logits of a block stay in
 * cache, no masks materialised (a causal prefix is a row length).
 *
 * For a set of M query rows with row lengths n_r over keys 0 .. n_max − 1, per block of Bk keys:
 *   Z = scale · Q · K_blockᵀ                       (MHA: + scale · Q_rope · K_rope,blockᵀ, accumulated)
 *   m' = max(m, max_{i < n_r} Z[r, i]);  α = exp(m − m');  P[r, i] = exp(Z[r, i] − m') (0 past n_r)
 *   l = α·l + Σ_i P[r, i];  O[r] = α·O[r] + P[r] · V_block;  m = m'
 * then O[r] /= l and lse[r] = m + log l (a row with n_r = 0: O = 0, lse = −∞).
 *
 * MQA (absorbed) mode, as V3.1 decodes: per token, the H heads are the rows; K = kv rows (W dims), V = kv[:, :Dv].
 * MHA mode, as V3.1 prefills: per head, the T tokens are the rows; K = [k_nope[h] ; k_rope], V = v[h] (head-major
 * caches of keys and values up-projected beforehand).
 */
#pragma GCC optimize("fp-contract=fast")
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention_kernels.h"

/* Floats of one block of logits (1 MiB): Bk = LOGIT_FLOATS / rows keys per block. */
#ifndef LOGIT_FLOATS
#define LOGIT_FLOATS (1 << 18)
#endif

/* Online-softmax state of M rows. */
typedef struct {
  int64_t rows;
  const int32_t* lengths; /* n_r, or NULL: every row has length `length` */
  int64_t length;
  float *max, *sum;
} online_softmax;

static int64_t row_length(const online_softmax* o, int64_t r) { return o->lengths != NULL ? o->lengths[r] : o->length; }

/*
 * Turns the logits block Z [rows, nb] (keys b0 .. b0 + nb − 1) into unnormalised probabilities in place and rescales
 * the output rows out[r] (width dv, stride ld_out) for the new running maxima.
 */
static void softmax_block(online_softmax* o, float* z, int64_t nb, int64_t b0, float* out, int64_t dv, int64_t ld_out) {
  for (int64_t r = 0; r < o->rows; r++) {
    float* row = z + r * nb;
    const int64_t n = row_length(o, r) - b0;
    const int64_t valid = n <= 0 ? 0 : n < nb ? n : nb;
    if (valid == 0) {
      memset(row, 0, sizeof(float) * (size_t)nb);
      continue;
    }
    const float block_max = ds_attn_max(row, valid);
    const float new_max = block_max > o->max[r] ? block_max : o->max[r];
    const float alpha = o->max[r] == -INFINITY ? 0.0f : expf(o->max[r] - new_max);
    const float total = ds_attn_exp_shift_sum(row, valid, new_max);
    memset(row + valid, 0, sizeof(float) * (size_t)(nb - valid));
    o->sum[r] = o->sum[r] * alpha + total;
    o->max[r] = new_max;
    if (alpha != 1.0f)
      for (int64_t c = 0; c < dv; c++) out[r * ld_out + c] *= alpha;
  }
}

/* O[r] /= l, lse = m + log l (O = 0, lse = −∞ for an empty row). */
static void finish_rows(const online_softmax* o, float* out, int64_t dv, int64_t ld_out, float* lse, int64_t lse_stride) {
  for (int64_t r = 0; r < o->rows; r++) {
    float* row = out + r * ld_out;
    if (o->sum[r] == 0.0f) {
      memset(row, 0, sizeof(float) * (size_t)dv);
      lse[r * lse_stride] = -INFINITY;
      continue;
    }
    const float inverse = 1.0f / o->sum[r];
    for (int64_t c = 0; c < dv; c++) row[c] *= inverse;
    lse[r * lse_stride] = o->max[r] + logf(o->sum[r]);
  }
}

static void reset(online_softmax* o, float* out, int64_t dv, int64_t ld_out) {
  for (int64_t r = 0; r < o->rows; r++) {
    o->max[r] = -INFINITY;
    o->sum[r] = 0.0f;
    memset(out + r * ld_out, 0, sizeof(float) * (size_t)dv);
  }
}

static int64_t block_keys(int64_t rows) {
  const int64_t keys = LOGIT_FLOATS / (rows > 0 ? rows : 1);
  return keys < 256 ? 256 : keys;
}

int ds_dense_mqa(const ds_mqa_shape* s, const float* q, const float* kv, const int32_t* row_len, float* out,
                 float* lse) {
  const int64_t h_count = s->heads, w = s->width, dv = s->value_dim, bk = block_keys(h_count);
  float* logits = malloc(sizeof(float) * (size_t)(h_count * bk));
  float* state = malloc(sizeof(float) * (size_t)(2 * h_count));
  if (logits == NULL || state == NULL) {
    free(logits);
    free(state);
    return DS_ATTN_NO_MEMORY;
  }
  for (int64_t t = 0; t < s->tokens; t++) {
    online_softmax o = {h_count, NULL, row_len[t], state, state + h_count};
    const float* q_t = q + t * h_count * w;
    float* out_t = out + t * h_count * dv;
    reset(&o, out_t, dv, dv);
    for (int64_t b0 = 0; b0 < row_len[t]; b0 += bk) {
      const int64_t nb = row_len[t] - b0 < bk ? row_len[t] - b0 : bk;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)h_count, (blasint)nb, (blasint)w, s->scale, q_t,
                  (blasint)w, kv + b0 * w, (blasint)w, 0.0f, logits, (blasint)nb);
      softmax_block(&o, logits, nb, b0, out_t, dv, dv);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)h_count, (blasint)dv, (blasint)nb, 1.0f, logits,
                  (blasint)nb, kv + b0 * w, (blasint)w, 1.0f, out_t, (blasint)dv);
    }
    finish_rows(&o, out_t, dv, dv, lse + t * h_count, 1);
  }
  free(logits);
  free(state);
  return DS_ATTN_OK;
}

/* One head of MHA attention over keys 0 .. n_max − 1; logits: scratch [T, bk]. */
static void mha_head(const ds_mha_shape* s, int64_t h, const float* q, const float* k_nope, const float* values,
                     const float* k_rope, online_softmax* o, int64_t n_max, float* logits, float* out, float* lse) {
  const int64_t t_count = s->tokens, qk = s->nope + s->rope, dv = s->value_dim, bk = block_keys(t_count);
  const int64_t ldq = s->heads * qk, ldo = s->heads * dv;
  const float* q_h = q + h * qk;
  float* out_h = out + h * dv;
  const float* keys_h = k_nope + h * s->key_stride * s->nope;
  const float* values_h = values + h * s->key_stride * dv;
  reset(o, out_h, dv, ldo);
  for (int64_t b0 = 0; b0 < n_max; b0 += bk) {
    const int64_t nb = n_max - b0 < bk ? n_max - b0 : bk;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)t_count, (blasint)nb, (blasint)s->nope, s->scale,
                q_h, (blasint)ldq, keys_h + b0 * s->nope, (blasint)s->nope, 0.0f, logits, (blasint)nb);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)t_count, (blasint)nb, (blasint)s->rope, s->scale,
                q_h + s->nope, (blasint)ldq, k_rope + b0 * s->rope, (blasint)s->rope, 1.0f, logits, (blasint)nb);
    softmax_block(o, logits, nb, b0, out_h, dv, ldo);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)t_count, (blasint)dv, (blasint)nb, 1.0f, logits,
                (blasint)nb, values_h + b0 * dv, (blasint)dv, 1.0f, out_h, (blasint)ldo);
  }
  finish_rows(o, out_h, dv, ldo, lse + h, s->heads);
}

int ds_dense_mha(const ds_mha_shape* s, const float* q, const float* k_nope, const float* values,
                 const float* k_rope, const int32_t* row_len, float* out, float* lse) {
  if (s->tokens == 0) return DS_ATTN_OK;
  int64_t n_max = 0;
  for (int64_t t = 0; t < s->tokens; t++) n_max = row_len[t] > n_max ? row_len[t] : n_max;
  float* logits = malloc(sizeof(float) * (size_t)(s->tokens * block_keys(s->tokens)));
  float* state = malloc(sizeof(float) * (size_t)(2 * s->tokens));
  if (logits == NULL || state == NULL) {
    free(logits);
    free(state);
    return DS_ATTN_NO_MEMORY;
  }
  online_softmax o = {s->tokens, row_len, 0, state, state + s->tokens};
  for (int64_t h = 0; h < s->heads; h++) mha_head(s, h, q, k_nope, values, k_rope, &o, n_max, logits, out, lse);
  free(logits);
  free(state);
  return DS_ATTN_OK;
}
