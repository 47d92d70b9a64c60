/*
 * Sparse MLA attention in MQA mode and the fused DSA entry (docs/attention.md §6; FlashMLA `flash_mla_sparse_fwd`,
 * TileLang `sparse_mla_fwd`), float32.
 *
 * Per token t: the valid selected rows of kv ([c_KV ; k_rope], W dims) are gathered ONCE into a contiguous
 * [n, W] block, and every head is served from it with two sgemms:
 *   Z = scale · Q_t · Gᵀ   [H, n];   P = softmax rows of Z (lse kept);   O_t = P · G[:, :Dv]   [H, Dv]
 * Indices < 0 are empty slots (the caller has checked that every other index is < S).
 *
 * Fused DSA (`ds_dsa_attention`): index scores for the T tokens over keys 0 .. max row_len − 1 (one blocked
 * indexer call), exact top-k per token over its causal prefix, then the sparse attention above — one call per
 * decode step or prefill chunk, with no tensor round trips in between.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention_kernels.h"

void ds_attend_rows(const ds_mqa_shape* s, const float* q_t, const float* rows, int64_t n, float* logits,
                    float* out_t, float* lse_t) {
  const int64_t h_count = s->heads, w = s->width, dv = s->value_dim;
  if (n == 0) {
    memset(out_t, 0, sizeof(float) * (size_t)(h_count * dv));
    for (int64_t h = 0; h < h_count; h++) lse_t[h] = -INFINITY;
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)h_count, (blasint)n, (blasint)w, s->scale, q_t,
              (blasint)w, rows, (blasint)w, 0.0f, logits, (blasint)n);
  for (int64_t h = 0; h < h_count; h++) lse_t[h] = ds_attn_softmax_row(logits + h * n, n);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)h_count, (blasint)dv, (blasint)n, 1.0f, logits,
              (blasint)n, rows, (blasint)w, 0.0f, out_t, (blasint)dv);
}

/* Copies the valid selected rows of kv into `rows`; returns how many. */
static int64_t gather_rows(const float* kv, int64_t width, const int32_t* idx, int64_t k, float* rows) {
  int64_t n = 0;
  for (int64_t i = 0; i < k; i++) {
    if (idx[i] < 0) continue;
    memcpy(rows + n * width, kv + (int64_t)idx[i] * width, sizeof(float) * (size_t)width);
    n++;
  }
  return n;
}

static int sparse_with_scratch(const ds_mqa_shape* s, const float* q, const float* kv, const int32_t* indices,
                               int64_t k, float* out, float* lse, float* rows, float* logits) {
  for (int64_t t = 0; t < s->tokens; t++) {
    const int64_t n = gather_rows(kv, s->width, indices + t * k, k, rows);
    ds_attend_rows(s, q + t * s->heads * s->width, rows, n, logits, out + t * s->heads * s->value_dim,
                lse + t * s->heads);
  }
  return DS_ATTN_OK;
}

int ds_sparse_mqa(const ds_mqa_shape* s, const float* q, const float* kv, const int32_t* indices, int64_t k,
                  float* out, float* lse) {
  if (s->tokens == 0) return DS_ATTN_OK;
  float* rows = malloc(sizeof(float) * (size_t)((k > 0 ? k : 1) * s->width));
  float* logits = malloc(sizeof(float) * (size_t)((k > 0 ? k : 1) * s->heads));
  int status = rows == NULL || logits == NULL ? DS_ATTN_NO_MEMORY
                                              : sparse_with_scratch(s, q, kv, indices, k, out, lse, rows, logits);
  free(rows);
  free(logits);
  return status;
}

static int64_t longest_row(const int32_t* row_len, int64_t tokens) {
  int64_t longest = 0;
  for (int64_t t = 0; t < tokens; t++) longest = row_len[t] > longest ? row_len[t] : longest;
  return longest;
}

static int index_scores(const ds_dsa_shape* s, const float* index_q, const float* index_w,
                        const ds_index_keys* keys, int64_t key_count, float* scores) {
  if (keys->i8 != NULL)
    return ds_indexer_scores_i8(index_q, index_w, keys->i8, keys->scale, s->mqa.tokens, s->index_heads,
                                s->index_dim, key_count, scores, key_count);
  return ds_indexer_scores(index_q, index_w, keys->f32, s->mqa.tokens, s->index_heads, s->index_dim, key_count,
                           scores, key_count);
}

int ds_dsa_attention(const ds_dsa_shape* s, const float* q, const float* index_q, const float* index_w,
                     const float* kv, const ds_index_keys* index_keys, const int32_t* row_len, float* out,
                     float* lse, int32_t* indices) {
  const int64_t tokens = s->mqa.tokens;
  if (tokens == 0) return DS_ATTN_OK;
  const int64_t n_max = longest_row(row_len, tokens);
  const int64_t width = s->topk < s->key_count ? s->topk : s->key_count;
  float* scores = malloc(sizeof(float) * (size_t)(tokens * (n_max > 0 ? n_max : 1)));
  int32_t* candidates = malloc(sizeof(int32_t) * (size_t)(n_max > 0 ? n_max : 1));
  int status = scores == NULL || candidates == NULL ? DS_ATTN_NO_MEMORY : DS_ATTN_OK;
  if (status == DS_ATTN_OK) status = index_scores(s, index_q, index_w, index_keys, n_max, scores);
  for (int64_t t = 0; t < tokens && status == DS_ATTN_OK; t++)
    status = ds_topk_row(scores + t * n_max, row_len[t], s->topk, indices + t * width, width, candidates);
  free(scores);
  free(candidates);
  if (status != DS_ATTN_OK) return status;
  return ds_sparse_mqa(&s->mqa, q, kv, indices, width, out, lse);
}
