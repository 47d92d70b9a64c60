/*
 * Plain-C kernels of the attention module (DeepSeek Sparse Attention, docs/attention.md §3-§6): no N-API in
 * here, only row-major float arrays, so attention.c binds them and they call each other (the fused entry).
 *
 * Shapes (one sequence; the JavaScript side loops over a batch with subarray views):
 *   T new tokens, H heads, W = kv_lora + rope (576) the MQA-mode row width, Dv = kv_lora (512) the value width,
 *   S keys (cache rows), HI index heads, DI index head dim, K selected keys per query.
 * Every kernel returns DS_ATTN_OK, or DS_ATTN_NO_MEMORY when a scratch allocation failed (the outputs are then
 * garbage). Kernels trust their arguments: attention.c checks every length and index before calling them.
 */
#ifndef DS_ATTENTION_KERNELS_H
#define DS_ATTENTION_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#define DS_ATTN_OK 0
#define DS_ATTN_NO_MEMORY (-1)

/* ---- vector helpers (attention_math.c; AVX-512 / AVX2+FMA / baseline clones picked at load time) ---- */

/* max_i x[i]; −∞ when n = 0. */
float ds_attn_max(const float* x, int64_t n);
/* x[i] = exp(x[i] − shift) in place (every x[i] ≤ shift), returns Σ_i x[i]. */
float ds_attn_exp_shift_sum(float* x, int64_t n, float shift);
/* Softmax of one row in place: p[i] = exp(x[i] − m) / Σ, returns lse = m + log Σ (−∞ and nothing written when n = 0). */
float ds_attn_softmax_row(float* x, int64_t n);

/* ---- two-thread loop (attention_parallel.c) ---- */

typedef void (*ds_attn_range_fn)(void* context, int64_t begin, int64_t end);
/* Runs fn over [0, count) in grains pulled by the calling thread and (when `threaded`) one helper thread. */
void ds_attn_parallel(ds_attn_range_fn fn, void* context, int64_t count, int64_t grain, bool threaded);

/* ---- lightning indexer (attention_indexer.c) ---- */

/*
 * scores[t, s] = Σ_j w[t, j] · ReLU(q[t, j, :] · keys[s, :])   for t < T, s < S
 * q [T, HI, DI], w [T, HI], keys [S, DI], scores [T, ld] (columns s < S written). A direct vector kernel over
 * the row-major keys, 2 threads (attention_indexer.c).
 */
int ds_indexer_scores(const float* q, const float* w, const float* keys, int64_t tokens, int64_t heads,
                      int64_t dim, int64_t key_count, float* scores, int64_t ld);

/*
 * The same over 8-bit keys (attention_indexer_i8.c): keys8 in the packed layout of ds_packed_i8_offset, one
 * scale per key (k ≈ k8 · key_scale); queries are quantised per (token, head) inside, dot products are exact int32:
 *   scores[t, s] = key_scale[s] · Σ_j w[t, j] · q_scale[t, j] · ReLU(q8[t, j] · k8[s])
 * DI must be a multiple of 4; keys8 holds ceil(S / 16) · 16 · DI bytes.
 */
int ds_indexer_scores_i8(const float* q, const float* w, const int8_t* keys8, const float* key_scale,
                         int64_t tokens, int64_t heads, int64_t dim, int64_t key_count, float* scores, int64_t ld);

/* The instruction path the 8-bit indexer takes now: "avx512-vnni", "avx2" or "scalar". */
const char* ds_indexer_i8_path(void);

/* Byte of (key s, dim d) in the packed 8-bit layout: blocks of 16 keys, 4-dim groups, 4 bytes per key. */
int64_t ds_packed_i8_offset(int64_t s, int64_t d, int64_t dim);

/*
 * Quantises rows keys[r, :] (r < rows, dim ≤ 4096) into keys first + r of the packed cache:
 * scale[s] = max_d |k[d]| / 127 (1 for a zero row), k8 = round(k / scale[s]) clamped to ±127.
 */
void ds_quantize_rows_i8(const float* keys, int64_t rows, int64_t dim, int64_t first, int8_t* keys8, float* scale);

/* ---- top-k (attention_topk.c) ---- */

/*
 * Exact top-k of row[0 .. n−1] by radix select: the indices of the min(k, n) largest values, ascending, ties to
 * the lower index, then −1 up to `width` slots. Requires k ≤ width. `scratch` holds n int32 (NULL: allocated).
 */
int ds_topk_row(const float* row, int64_t n, int64_t k, int32_t* out, int64_t width, int32_t* scratch);

/* ---- attention (attention_sparse.c, attention_dense.c) ---- */

typedef struct {
  int64_t tokens, heads, width, value_dim;
  float scale;
} ds_mqa_shape;

/*
 * MQA attention of one token's H query rows q_t [H, W] over n rows [n, W] (rows with stride W):
 *   z[h, i] = scale · q_t[h] · rows[i];  p = softmax_i z;  out_t[h] = Σ_i p[h, i] rows[i, :Dv];  lse_t[h] = log Σ exp z
 * logits: scratch of H·n floats. n = 0 gives out_t = 0, lse_t = −∞.
 */
void ds_attend_rows(const ds_mqa_shape* shape, const float* q_t, const float* rows, int64_t n, float* logits,
                    float* out_t, float* lse_t);

/*
 * Sparse MQA attention: for token t, the valid indices[t, :] (−1 skipped; each must be < S) gather rows of kv
 * [S, W] once, and every head attends to them:
 *   z[h, i] = scale · q[t, h, :] · kv[idx_i, :];  p = softmax_i z;  out[t, h, :] = Σ_i p[h, i] kv[idx_i, :Dv]
 *   lse[t, h] = log Σ_i exp z[h, i]   (a token without valid index: out = 0, lse = −∞)
 * q [T, H, W], indices [T, K], out [T, H, Dv], lse [T, H].
 */
int ds_sparse_mqa(const ds_mqa_shape* shape, const float* q, const float* kv, const int32_t* indices, int64_t k,
                  float* out, float* lse);

/*
 * Dense MQA attention: token t attends to kv rows 0 .. row_len[t] − 1 (same formulas as ds_sparse_mqa), keys taken
 * in blocks with an online softmax (attention_dense.c).
 */
int ds_dense_mqa(const ds_mqa_shape* shape, const float* q, const float* kv, const int32_t* row_len, float* out,
                 float* lse);

typedef struct {
  int64_t tokens, heads, nope, rope, value_dim, key_stride;
  float scale;
} ds_mha_shape;

/*
 * Dense MHA attention over up-projected keys/values (head-major), token t over keys 0 .. row_len[t] − 1, keys in
 * blocks with an online softmax:
 *   z[t, h, s] = scale · (q[t, h, :nope] · k_nope[h, s] + q[t, h, nope:] · k_rope[s])
 *   out[t, h, :] = Σ_s softmax_s(z) v[h, s],  lse[t, h] = log Σ_s exp z
 * q [T, H, nope + rope], k_nope [H, key_stride, nope], values [H, key_stride, Dv], k_rope [S, rope],
 * out [T, H, Dv], lse [T, H].
 */
int ds_dense_mha(const ds_mha_shape* shape, const float* q, const float* k_nope, const float* values,
                 const float* k_rope, const int32_t* row_len, float* out, float* lse);

/* ---- absorbed up-projections of MQA mode (attention_absorb.c) ---- */

typedef struct {
  int64_t tokens, heads, nope, rope, value_dim, kv_lora;
} ds_absorb_shape;

/*
 * wkv_b [H · (nope + v), kv_lora] (reference layout): W_UK[h] = rows h·(nope + v) + [0, nope), W_UV[h] the next v.
 * query:  q_abs[t, h] = [q[t, h, :nope] · W_UK[h] ; q[t, h, nope:]]     q [T, H, nope + rope], q_abs [T, H, kv_lora + rope]
 * output: out[t, h] = latent[t, h] · W_UV[h]ᵀ                           latent [T, H, kv_lora], out [T, H, v]
 */
void ds_absorb_query(const ds_absorb_shape* shape, const float* q, const float* wkv_b, float* q_abs);
void ds_absorb_output(const ds_absorb_shape* shape, const float* latent, const float* wkv_b, float* out);

/* ---- fused DSA (attention_sparse.c) ---- */

typedef struct {
  ds_mqa_shape mqa;
  int64_t index_heads, index_dim, key_count, topk;
} ds_dsa_shape;

/* Index keys in one of two storages: float rows, or 8-bit rows with one scale per key. */
typedef struct {
  const float* f32;
  const int8_t* i8;
  const float* scale;
} ds_index_keys;

/*
 * One call for the DSA path of T tokens: index scores over keys 0 .. max(row_len) − 1, exact top-k per token
 * over its causal prefix row_len[t] (indices[t, :], width = min(topk, S), −1 in empty slots), then sparse MQA
 * attention over the selected rows. Same outputs as the three kernels in sequence.
 */
int ds_dsa_attention(const ds_dsa_shape* shape, const float* q, const float* index_q, const float* index_w,
                     const float* kv, const ds_index_keys* index_keys, const int32_t* row_len, float* out,
                     float* lse, int32_t* indices);

#endif
