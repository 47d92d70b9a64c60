/*
 * Attention module of the ds native addon: DeepSeek Sparse Attention kernels (docs/attention.md §3-§6) over
 * zero-copy typed arrays (WebAssembly-heap views included). Every function takes ONE object of named arguments
 * (arrays and sizes), checks every size, length and index, writes its outputs in place and returns undefined:
 *
 *   attentionIndexerScores({ q, weights, keys, tokens, heads, dim, keyCount, scores })
 *       scores[t, s] = Σ_j weights[t, j] · ReLU(q[t, j, :] · keys[s, :])     q [T, HI, DI], scores [T, S]
 *   attentionIndexerScoresInt8({ q, weights, keys8, keyScales, tokens, heads, dim, keyCount, scores })
 *       the same over packed 8-bit keys (attention_indexer_i8.c)
 *   attentionQuantizeKeys({ keys, rows, dim, first, keys8, keyScales })
 *       keys [rows, DI] → packed 8-bit keys first .. first + rows − 1
 *   attentionTopk({ scores, rows, keyCount, rowLengths, k, indices })
 *       indices [rows, min(k, S)]: exact top-k of scores[r, 0 .. rowLengths[r] − 1], ascending, −1 = empty
 *   attentionSparse({ q, kv, indices, tokens, heads, width, keyCount, k, scale, valueDim, output, lse })
 *       sparse MQA attention over the selected kv rows (−1 skipped)          output [T, H, Dv], lse [T, H]
 *   attentionDenseMqa({ q, kv, rowLengths, tokens, heads, width, keyCount, scale, valueDim, output, lse })
 *   attentionDenseMha({ q, keysNope, values, keysRope, rowLengths, tokens, heads, nope, rope, valueDim,
 *                       keyCount, keyStride, scale, output, lse })
 *   attentionDsa({ q, indexQ, indexWeights, kv, indexKeys | keys8 + keyScales, rowLengths, tokens, heads, width,
 *                  indexHeads, indexDim, keyCount, topk, scale, valueDim, output, lse, indices })
 *       index scores + top-k + sparse attention in one call (attention_sparse.c)
 *
 *   attentionAbsorbQuery({ q, wkvB, tokens, heads, nope, rope, valueDim, kvLora, output })
 *       output[t, h] = [q[t, h, :nope] · W_UK[h] ; q[t, h, nope:]]   (wkvB: Wkv_b [H·(nope + v), kv_lora])
 *   attentionAbsorbOutput({ latent, wkvB, tokens, heads, nope, rope, valueDim, kvLora, output })
 *       output[t, h] = latent[t, h] · W_UV[h]ᵀ
 *   attentionInfo() -> { int8Indexer: "avx512-vnni" | "avx2" | "scalar" }   (DS_ATTENTION_ISA=avx2|scalar caps it)
 *
 * One sequence per call (the caller loops over a batch with subarrays). Shapes and formulas: attention_kernels.h.
 */
#include <math.h>
#include <stdio.h>

#include "attention_kernels.h"
#include "ds_napi.h"

#define MAX_DIM 2147483647

/* Reads named arguments from one object; the first failure throws and makes every later read a no-op. */
typedef struct {
  napi_env env;
  napi_value args;
  bool ok;
} reader;

static bool fail(reader* r, bool range, const char* name, const char* what) {
  if (!r->ok) return false;
  char message[256];
  snprintf(message, sizeof(message), "ds native attention: '%s' %s", name, what);
  if (range) napi_throw_range_error(r->env, NULL, message);
  else napi_throw_type_error(r->env, NULL, message);
  r->ok = false;
  return false;
}

static bool property(reader* r, const char* name, napi_value* value) {
  if (!r->ok) return false;
  bool has = false;
  if (napi_has_named_property(r->env, r->args, name, &has) != napi_ok || !has) return fail(r, false, name, "is missing");
  if (napi_get_named_property(r->env, r->args, name, value) != napi_ok) return fail(r, false, name, "cannot be read");
  return true;
}

static bool has_property(reader* r, const char* name) {
  bool has = false;
  napi_valuetype type = napi_undefined;
  napi_value value;
  if (!r->ok || napi_has_named_property(r->env, r->args, name, &has) != napi_ok || !has) return false;
  return napi_get_named_property(r->env, r->args, name, &value) == napi_ok &&
         napi_typeof(r->env, value, &type) == napi_ok && type != napi_undefined;
}

static int64_t read_int(reader* r, const char* name, int64_t min, int64_t max) {
  napi_value value;
  int64_t out = 0;
  if (!property(r, name, &value)) return 0;
  double v;
  if (napi_get_value_double(r->env, value, &v) != napi_ok) return fail(r, false, name, "must be a number"), 0;
  if (!(v >= (double)min && v <= (double)max) || v != floor(v))
    return fail(r, true, name, "is out of range or not an integer"), 0;
  out = (int64_t)v;
  return out;
}

static float read_f32(reader* r, const char* name) {
  napi_value value;
  double v = 0;
  if (property(r, name, &value) && napi_get_value_double(r->env, value, &v) != napi_ok)
    fail(r, false, name, "must be a number");
  return (float)v;
}

/* a · b, saturating (sizes are checked against array lengths, so a saturated product always fails the check). */
static int64_t times(int64_t a, int64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > INT64_MAX / b ? INT64_MAX : a * b;
}

static void* read_array(reader* r, const char* name, napi_typedarray_type type, const char* what, int64_t need) {
  napi_value value;
  if (!property(r, name, &value)) return NULL;
  bool is_typed = false;
  napi_typedarray_type actual;
  size_t length = 0;
  void* data = NULL;
  if (napi_is_typedarray(r->env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(r->env, value, &actual, &length, &data, NULL, NULL) != napi_ok || actual != type) {
    fail(r, false, name, what);
    return NULL;
  }
  if ((uint64_t)need > (uint64_t)length) {
    char message[160];
    snprintf(message, sizeof(message), "has %zu elements, needs at least %lld", length, (long long)need);
    fail(r, true, name, message);
    return NULL;
  }
  return data;
}

static float* read_f32s(reader* r, const char* name, int64_t need) {
  return read_array(r, name, napi_float32_array, "must be a Float32Array", need);
}

static int32_t* read_i32s(reader* r, const char* name, int64_t need) {
  return read_array(r, name, napi_int32_array, "must be an Int32Array", need);
}

static int8_t* read_i8s(reader* r, const char* name, int64_t need) {
  return read_array(r, name, napi_int8_array, "must be an Int8Array", need);
}

/* Every value of lengths[0 .. n) lies in [0, max]. */
static bool check_lengths(reader* r, const char* name, const int32_t* lengths, int64_t n, int64_t max) {
  if (!r->ok) return false;
  for (int64_t i = 0; i < n; i++)
    if (lengths[i] < 0 || lengths[i] > max) return fail(r, true, name, "holds a length outside 0 .. keyCount");
  return true;
}

/* Every index of indices[0 .. n) is −1..keyCount − 1 (any negative value means an empty slot). */
static bool check_indices(reader* r, const char* name, const int32_t* indices, int64_t n, int64_t key_count) {
  if (!r->ok) return false;
  for (int64_t i = 0; i < n; i++)
    if (indices[i] >= key_count) return fail(r, true, name, "holds an index >= keyCount");
  return true;
}

static reader start(napi_env env, napi_callback_info info) {
  reader r = {env, NULL, false};
  napi_valuetype type;
  if (!ds_args(env, info, 1, &r.args)) return r;
  if (napi_typeof(env, r.args, &type) != napi_ok || type != napi_object) {
    ds_throw_type(env, "ds native attention: expected one object of named arguments");
    return r;
  }
  r.ok = true;
  return r;
}

static napi_value finish(reader* r, int status) {
  if (r->ok && status == DS_ATTN_NO_MEMORY) napi_throw_error(r->env, NULL, "ds native attention: out of memory");
  return NULL;
}

/* Packed 8-bit key bytes for `keys` keys of `dim` dims (whole blocks of 16). */
static int64_t packed_bytes(int64_t keys, int64_t dim) { return times((keys + 15) / 16 * 16, dim); }

static napi_value indexer_scores(napi_env env, napi_callback_info info) {
  reader r = start(env, info);
  const int64_t tokens = read_int(&r, "tokens", 0, MAX_DIM), heads = read_int(&r, "heads", 1, MAX_DIM);
  const int64_t dim = read_int(&r, "dim", 1, MAX_DIM), key_count = read_int(&r, "keyCount", 0, MAX_DIM);
  const float* q = read_f32s(&r, "q", times(times(tokens, heads), dim));
  const float* w = read_f32s(&r, "weights", times(tokens, heads));
  const float* keys = read_f32s(&r, "keys", times(key_count, dim));
  float* scores = read_f32s(&r, "scores", times(tokens, key_count));
  if (!r.ok) return NULL;
  return finish(&r, ds_indexer_scores(q, w, keys, tokens, heads, dim, key_count, scores, key_count));
}

static napi_value indexer_scores_i8(napi_env env, napi_callback_info info) {
  reader r = start(env, info);
  const int64_t tokens = read_int(&r, "tokens", 0, MAX_DIM), heads = read_int(&r, "heads", 1, MAX_DIM);
  const int64_t dim = read_int(&r, "dim", 4, 4096), key_count = read_int(&r, "keyCount", 0, MAX_DIM);
  if (r.ok && dim % 4 != 0) fail(&r, true, "dim", "must be a multiple of 4 for 8-bit keys");
  const float* q = read_f32s(&r, "q", times(times(tokens, heads), dim));
  const float* w = read_f32s(&r, "weights", times(tokens, heads));
  const int8_t* keys8 = read_i8s(&r, "keys8", packed_bytes(key_count, dim));
  const float* scales = read_f32s(&r, "keyScales", key_count);
  float* scores = read_f32s(&r, "scores", times(tokens, key_count));
  if (!r.ok) return NULL;
  return finish(&r, ds_indexer_scores_i8(q, w, keys8, scales, tokens, heads, dim, key_count, scores, key_count));
}

static napi_value quantize_keys(napi_env env, napi_callback_info info) {
  reader r = start(env, info);
  const int64_t rows = read_int(&r, "rows", 0, MAX_DIM), dim = read_int(&r, "dim", 4, 4096);
  const int64_t first = read_int(&r, "first", 0, MAX_DIM);
  if (r.ok && dim % 4 != 0) fail(&r, true, "dim", "must be a multiple of 4 for 8-bit keys");
  const float* keys = read_f32s(&r, "keys", times(rows, dim));
  int8_t* keys8 = read_i8s(&r, "keys8", packed_bytes(first + rows, dim));
  float* scales = read_f32s(&r, "keyScales", first + rows);
  if (!r.ok) return NULL;
  ds_quantize_rows_i8(keys, rows, dim, first, keys8, scales);
  return NULL;
}

static napi_value topk(napi_env env, napi_callback_info info) {
  reader r = start(env, info);
  const int64_t rows = read_int(&r, "rows", 0, MAX_DIM), key_count = read_int(&r, "keyCount", 0, MAX_DIM);
  const int64_t k = read_int(&r, "k", 1, MAX_DIM);
  const int64_t width = k < key_count ? k : key_count;
  const float* scores = read_f32s(&r, "scores", times(rows, key_count));
  const int32_t* lengths = read_i32s(&r, "rowLengths", rows);
  int32_t* indices = read_i32s(&r, "indices", times(rows, width));
  if (!check_lengths(&r, "rowLengths", lengths, rows, key_count)) return NULL;
  int status = DS_ATTN_OK;
  for (int64_t row = 0; row < rows && status == DS_ATTN_OK; row++)
    status = ds_topk_row(scores + row * key_count, lengths[row], width, indices + row * width, width, NULL);
  return finish(&r, status);
}

static ds_mqa_shape read_mqa_shape(reader* r) {
  ds_mqa_shape s;
  s.tokens = read_int(r, "tokens", 0, MAX_DIM);
  s.heads = read_int(r, "heads", 1, MAX_DIM);
  s.width = read_int(r, "width", 1, MAX_DIM);
  s.value_dim = read_int(r, "valueDim", 1, MAX_DIM);
  s.scale = read_f32(r, "scale");
  if (r->ok && s.value_dim > s.width) fail(r, true, "valueDim", "must be <= width");
  return s;
}

static napi_value sparse(napi_env env, napi_callback_info info) {
  reader r = start(env, info);
  const ds_mqa_shape s = read_mqa_shape(&r);
  const int64_t key_count = read_int(&r, "keyCount", 0, MAX_DIM), k = read_int(&r, "k", 0, MAX_DIM);
  const float* q = read_f32s(&r, "q", times(times(s.tokens, s.heads), s.width));
  const float* kv = read_f32s(&r, "kv", times(key_count, s.width));
  const int32_t* indices = read_i32s(&r, "indices", times(s.tokens, k));
  float* out = read_f32s(&r, "output", times(times(s.tokens, s.heads), s.value_dim));
  float* lse = read_f32s(&r, "lse", times(s.tokens, s.heads));
  if (!check_indices(&r, "indices", indices, times(s.tokens, k), key_count)) return NULL;
  return finish(&r, ds_sparse_mqa(&s, q, kv, indices, k, out, lse));
}

static napi_value dense_mqa(napi_env env, napi_callback_info info) {
  reader r = start(env, info);
  const ds_mqa_shape s = read_mqa_shape(&r);
  const int64_t key_count = read_int(&r, "keyCount", 0, MAX_DIM);
  const float* q = read_f32s(&r, "q", times(times(s.tokens, s.heads), s.width));
  const float* kv = read_f32s(&r, "kv", times(key_count, s.width));
  const int32_t* lengths = read_i32s(&r, "rowLengths", s.tokens);
  float* out = read_f32s(&r, "output", times(times(s.tokens, s.heads), s.value_dim));
  float* lse = read_f32s(&r, "lse", times(s.tokens, s.heads));
  if (!check_lengths(&r, "rowLengths", lengths, s.tokens, key_count)) return NULL;
  return finish(&r, ds_dense_mqa(&s, q, kv, lengths, out, lse));
}

static napi_value dense_mha(napi_env env, napi_callback_info info) {
  reader r = start(env, info);
  ds_mha_shape s;
  s.tokens = read_int(&r, "tokens", 0, MAX_DIM);
  s.heads = read_int(&r, "heads", 1, MAX_DIM);
  s.nope = read_int(&r, "nope", 1, MAX_DIM);
  s.rope = read_int(&r, "rope", 1, MAX_DIM);
  s.value_dim = read_int(&r, "valueDim", 1, MAX_DIM);
  s.scale = read_f32(&r, "scale");
  const int64_t key_count = read_int(&r, "keyCount", 0, MAX_DIM);
  s.key_stride = read_int(&r, "keyStride", 0, MAX_DIM);
  if (r.ok && s.key_stride < key_count) fail(&r, true, "keyStride", "must be >= keyCount");
  const float* q = read_f32s(&r, "q", times(times(s.tokens, s.heads), s.nope + s.rope));
  const float* k_nope = read_f32s(&r, "keysNope", times(times(s.heads, s.key_stride), s.nope));
  const float* values = read_f32s(&r, "values", times(times(s.heads, s.key_stride), s.value_dim));
  const float* k_rope = read_f32s(&r, "keysRope", times(key_count, s.rope));
  const int32_t* lengths = read_i32s(&r, "rowLengths", s.tokens);
  float* out = read_f32s(&r, "output", times(times(s.tokens, s.heads), s.value_dim));
  float* lse = read_f32s(&r, "lse", times(s.tokens, s.heads));
  if (!check_lengths(&r, "rowLengths", lengths, s.tokens, key_count)) return NULL;
  return finish(&r, ds_dense_mha(&s, q, k_nope, values, k_rope, lengths, out, lse));
}

static napi_value dsa(napi_env env, napi_callback_info info) {
  reader r = start(env, info);
  ds_dsa_shape s;
  s.mqa = read_mqa_shape(&r);
  s.index_heads = read_int(&r, "indexHeads", 1, MAX_DIM);
  s.index_dim = read_int(&r, "indexDim", 1, MAX_DIM);
  s.key_count = read_int(&r, "keyCount", 0, MAX_DIM);
  s.topk = read_int(&r, "topk", 1, MAX_DIM);
  const int64_t tokens = s.mqa.tokens, width = s.topk < s.key_count ? s.topk : s.key_count;
  const float* q = read_f32s(&r, "q", times(times(tokens, s.mqa.heads), s.mqa.width));
  const float* index_q = read_f32s(&r, "indexQ", times(times(tokens, s.index_heads), s.index_dim));
  const float* index_w = read_f32s(&r, "indexWeights", times(tokens, s.index_heads));
  const float* kv = read_f32s(&r, "kv", times(s.key_count, s.mqa.width));
  ds_index_keys keys = {NULL, NULL, NULL};
  if (has_property(&r, "keys8")) {
    if (s.index_dim % 4 != 0 || s.index_dim > 4096) fail(&r, true, "indexDim", "must be a multiple of 4 up to 4096 for 8-bit keys");
    keys.i8 = read_i8s(&r, "keys8", packed_bytes(s.key_count, s.index_dim));
    keys.scale = read_f32s(&r, "keyScales", s.key_count);
  } else {
    keys.f32 = read_f32s(&r, "indexKeys", times(s.key_count, s.index_dim));
  }
  const int32_t* lengths = read_i32s(&r, "rowLengths", tokens);
  float* out = read_f32s(&r, "output", times(times(tokens, s.mqa.heads), s.mqa.value_dim));
  float* lse = read_f32s(&r, "lse", times(tokens, s.mqa.heads));
  int32_t* indices = read_i32s(&r, "indices", times(tokens, width));
  if (!check_lengths(&r, "rowLengths", lengths, tokens, s.key_count)) return NULL;
  return finish(&r, ds_dsa_attention(&s, q, index_q, index_w, kv, &keys, lengths, out, lse, indices));
}

static napi_value info(napi_env env, napi_callback_info cb) {
  (void)cb;
  napi_value result, path;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, ds_indexer_i8_path(), NAPI_AUTO_LENGTH, &path);
  napi_set_named_property(env, result, "int8Indexer", path);
  return result;
}

static ds_absorb_shape read_absorb_shape(reader* r) {
  ds_absorb_shape s;
  s.tokens = read_int(r, "tokens", 0, MAX_DIM);
  s.heads = read_int(r, "heads", 1, MAX_DIM);
  s.nope = read_int(r, "nope", 1, MAX_DIM);
  s.rope = read_int(r, "rope", 0, MAX_DIM);
  s.value_dim = read_int(r, "valueDim", 1, MAX_DIM);
  s.kv_lora = read_int(r, "kvLora", 1, MAX_DIM);
  return s;
}

static napi_value absorb_query(napi_env env, napi_callback_info info) {
  reader r = start(env, info);
  const ds_absorb_shape s = read_absorb_shape(&r);
  const int64_t rows = times(s.tokens, s.heads);
  const float* q = read_f32s(&r, "q", times(rows, s.nope + s.rope));
  const float* wkv_b = read_f32s(&r, "wkvB", times(times(s.heads, s.nope + s.value_dim), s.kv_lora));
  float* out = read_f32s(&r, "output", times(rows, s.kv_lora + s.rope));
  if (!r.ok) return NULL;
  ds_absorb_query(&s, q, wkv_b, out);
  return NULL;
}

static napi_value absorb_output(napi_env env, napi_callback_info info) {
  reader r = start(env, info);
  const ds_absorb_shape s = read_absorb_shape(&r);
  const int64_t rows = times(s.tokens, s.heads);
  const float* latent = read_f32s(&r, "latent", times(rows, s.kv_lora));
  const float* wkv_b = read_f32s(&r, "wkvB", times(times(s.heads, s.nope + s.value_dim), s.kv_lora));
  float* out = read_f32s(&r, "output", times(rows, s.value_dim));
  if (!r.ok) return NULL;
  ds_absorb_output(&s, latent, wkv_b, out);
  return NULL;
}

static const ds_method methods[] = {
    {"attentionAbsorbQuery", absorb_query},
    {"attentionAbsorbOutput", absorb_output},
    {"attentionInfo", info},
    {"attentionIndexerScores", indexer_scores},
    {"attentionIndexerScoresInt8", indexer_scores_i8},
    {"attentionQuantizeKeys", quantize_keys},
    {"attentionTopk", topk},
    {"attentionSparse", sparse},
    {"attentionDenseMqa", dense_mqa},
    {"attentionDenseMha", dense_mha},
    {"attentionDsa", dsa},
    {NULL, NULL},
};

napi_status ds_init_attention(napi_env env, napi_value exports) { return ds_export_methods(env, exports, methods); }
