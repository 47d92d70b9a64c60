/*
 * BLAS module of the ds native addon: single-precision matrix products on OpenBLAS.
 *
 *   C[i] = alpha · op(A[i]) · op(B[i]) + beta · C[i]      op(X) = X or Xᵀ, row-major, i over the batch
 *
 *   sgemm(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc)
 *   sgemv(transA, m, n, alpha, a, aOffset, lda, x, xOffset, beta, y, yOffset)
 *       y = alpha · op(A) · x + beta · y   A row-major m x n (op(A) = Aᵀ: x has m entries, y has n), unit strides:
 *       a single-row product (a decode step's projection) without sgemm's packing of the whole weight matrix
 *   sgemmBatched(transA, transB, m, n, k, alpha, a, aOffsets, lda, b, bOffsets, ldb, beta, c, cOffsets, ldc)
 *   setThreads(n) -> previous count;  getThreads() -> count;  info() -> { config, corename, threads }
 *
 * a, b, c are Float32Arrays (views of a WebAssembly heap included: no copy); offsets count elements from the
 * start of each view; the batched form takes one Int32Array/Uint32Array of offsets per operand (equal lengths),
 * which expresses strided batches and broadcast batch dimensions alike. Every matrix is checked to lie inside
 * its array before OpenBLAS sees a pointer.
 */
#include <cblas.h>

#include "ds_napi.h"

/* Declared again so the module also compiles against a generic cblas.h (identical prototypes are allowed). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
char* openblas_get_corename(void);

#define MAX_BLASINT 2147483647

/* Elements spanned by a row-major rows x cols matrix with leading dimension ld. */
static int64_t extent(int64_t rows, int64_t cols, int64_t ld) {
  return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;
}

typedef struct {
  bool trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
  float *a, *b, *c;
  size_t a_len, b_len, c_len;
  /* Extents of A, B and C from their offsets, and the column counts their leading dimensions must cover. */
  int64_t a_extent, b_extent, c_extent;
} gemm_args;

/* Reads the 16 arguments shared by sgemm and sgemmBatched (offset arguments at 7, 10 and 14 excluded). */
static bool read_gemm(napi_env env, napi_value* argv, gemm_args* g) {
  if (!ds_get_bool(env, argv[0], "transA", &g->trans_a)) return false;
  if (!ds_get_bool(env, argv[1], "transB", &g->trans_b)) return false;
  if (!ds_get_int(env, argv[2], "m", 0, MAX_BLASINT, &g->m)) return false;
  if (!ds_get_int(env, argv[3], "n", 0, MAX_BLASINT, &g->n)) return false;
  if (!ds_get_int(env, argv[4], "k", 0, MAX_BLASINT, &g->k)) return false;
  if (!ds_get_f32(env, argv[5], "alpha", &g->alpha)) return false;
  if (!ds_get_f32_array(env, argv[6], "a", &g->a, &g->a_len)) return false;
  if (!ds_get_int(env, argv[8], "lda", 1, MAX_BLASINT, &g->lda)) return false;
  if (!ds_get_f32_array(env, argv[9], "b", &g->b, &g->b_len)) return false;
  if (!ds_get_int(env, argv[11], "ldb", 1, MAX_BLASINT, &g->ldb)) return false;
  if (!ds_get_f32(env, argv[12], "beta", &g->beta)) return false;
  if (!ds_get_f32_array(env, argv[13], "c", &g->c, &g->c_len)) return false;
  if (!ds_get_int(env, argv[15], "ldc", 1, MAX_BLASINT, &g->ldc)) return false;

  /* Stored shapes: A is m x k (k x m when transposed), B is k x n (n x k), C is m x n. */
  const int64_t a_rows = g->trans_a ? g->k : g->m, a_cols = g->trans_a ? g->m : g->k;
  const int64_t b_rows = g->trans_b ? g->n : g->k, b_cols = g->trans_b ? g->k : g->n;
  if (g->lda < a_cols) { ds_throw_range(env, "ds native: lda is smaller than the row length of A"); return false; }
  if (g->ldb < b_cols) { ds_throw_range(env, "ds native: ldb is smaller than the row length of B"); return false; }
  if (g->ldc < g->n) { ds_throw_range(env, "ds native: ldc is smaller than n"); return false; }
  g->a_extent = extent(a_rows, a_cols, g->lda);
  g->b_extent = extent(b_rows, b_cols, g->ldb);
  g->c_extent = extent(g->m, g->n, g->ldc);
  return true;
}

static void run_gemm(const gemm_args* g, int64_t a_off, int64_t b_off, int64_t c_off) {
  if (g->m == 0 || g->n == 0) return;
  cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans,
              (blasint)g->m, (blasint)g->n, (blasint)g->k, g->alpha, g->a + a_off, (blasint)g->lda, g->b + b_off,
              (blasint)g->ldb, g->beta, g->c + c_off, (blasint)g->ldc);
}

static bool check_bounds(napi_env env, const gemm_args* g, int64_t a_off, int64_t b_off, int64_t c_off) {
  if (!ds_in_bounds(a_off, g->a_extent, g->a_len)) { ds_throw_range(env, "ds native: A lies outside its Float32Array"); return false; }
  if (!ds_in_bounds(b_off, g->b_extent, g->b_len)) { ds_throw_range(env, "ds native: B lies outside its Float32Array"); return false; }
  if (!ds_in_bounds(c_off, g->c_extent, g->c_len)) { ds_throw_range(env, "ds native: C lies outside its Float32Array"); return false; }
  return true;
}

static napi_value sgemm(napi_env env, napi_callback_info info) {
  napi_value argv[16];
  gemm_args g;
  int64_t a_off, b_off, c_off;
  if (!ds_args(env, info, 16, argv) || !read_gemm(env, argv, &g)) return NULL;
  if (!ds_get_int(env, argv[7], "aOffset", 0, INT64_MAX >> 11, &a_off)) return NULL;
  if (!ds_get_int(env, argv[10], "bOffset", 0, INT64_MAX >> 11, &b_off)) return NULL;
  if (!ds_get_int(env, argv[14], "cOffset", 0, INT64_MAX >> 11, &c_off)) return NULL;
  if (!check_bounds(env, &g, a_off, b_off, c_off)) return NULL;
  run_gemm(&g, a_off, b_off, c_off);
  return NULL;
}

static napi_value sgemv(napi_env env, napi_callback_info info) {
  napi_value argv[12];
  bool trans;
  int64_t m, n, lda, a_off, x_off, y_off;
  float alpha, beta, *a, *x, *y;
  size_t a_len, x_len, y_len;
  if (!ds_args(env, info, 12, argv) || !ds_get_bool(env, argv[0], "transA", &trans)) return NULL;
  if (!ds_get_int(env, argv[1], "m", 0, MAX_BLASINT, &m) || !ds_get_int(env, argv[2], "n", 0, MAX_BLASINT, &n)) return NULL;
  if (!ds_get_f32(env, argv[3], "alpha", &alpha) || !ds_get_f32_array(env, argv[4], "a", &a, &a_len)) return NULL;
  if (!ds_get_int(env, argv[5], "aOffset", 0, INT64_MAX >> 11, &a_off)) return NULL;
  if (!ds_get_int(env, argv[6], "lda", 1, MAX_BLASINT, &lda)) return NULL;
  if (!ds_get_f32_array(env, argv[7], "x", &x, &x_len) || !ds_get_int(env, argv[8], "xOffset", 0, INT64_MAX >> 11, &x_off)) return NULL;
  if (!ds_get_f32(env, argv[9], "beta", &beta) || !ds_get_f32_array(env, argv[10], "y", &y, &y_len)) return NULL;
  if (!ds_get_int(env, argv[11], "yOffset", 0, INT64_MAX >> 11, &y_off)) return NULL;
  const int64_t x_count = trans ? m : n, y_count = trans ? n : m;
  if (lda < n) return ds_throw_range(env, "ds native: lda is smaller than the row length of A");
  if (!ds_in_bounds(a_off, extent(m, n, lda), a_len)) return ds_throw_range(env, "ds native: A lies outside its Float32Array");
  if (!ds_in_bounds(x_off, x_count, x_len)) return ds_throw_range(env, "ds native: x lies outside its Float32Array");
  if (!ds_in_bounds(y_off, y_count, y_len)) return ds_throw_range(env, "ds native: y lies outside its Float32Array");
  if (y_count == 0) return NULL;
  /* beta = 0 overwrites y (garbage or NaN included, as sgemm does); an empty sum leaves beta · y. */
  for (int64_t i = 0; i < y_count && (beta == 0.0f || x_count == 0); i++) y[y_off + i] = beta == 0.0f ? 0.0f : beta * y[y_off + i];
  if (x_count == 0) return NULL;
  cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, alpha, a + a_off,
              (blasint)lda, x + x_off, 1, beta, y + y_off, 1);
  return NULL;
}

static int64_t offset_at(const void* data, bool is_signed, size_t i) {
  return is_signed ? (int64_t)((const int32_t*)data)[i] : (int64_t)((const uint32_t*)data)[i];
}

static napi_value sgemm_batched(napi_env env, napi_callback_info info) {
  napi_value argv[16];
  gemm_args g;
  const void *a_offs, *b_offs, *c_offs;
  size_t a_count, b_count, c_count;
  bool a_signed, b_signed, c_signed;
  if (!ds_args(env, info, 16, argv) || !read_gemm(env, argv, &g)) return NULL;
  if (!ds_get_offsets(env, argv[7], "aOffsets", &a_offs, &a_count, &a_signed)) return NULL;
  if (!ds_get_offsets(env, argv[10], "bOffsets", &b_offs, &b_count, &b_signed)) return NULL;
  if (!ds_get_offsets(env, argv[14], "cOffsets", &c_offs, &c_count, &c_signed)) return NULL;
  if (a_count != c_count || b_count != c_count) return ds_throw_range(env, "ds native: aOffsets, bOffsets and cOffsets must have equal lengths");
  for (size_t i = 0; i < c_count; i++) {
    if (!check_bounds(env, &g, offset_at(a_offs, a_signed, i), offset_at(b_offs, b_signed, i), offset_at(c_offs, c_signed, i)))
      return NULL;
  }
  for (size_t i = 0; i < c_count; i++)
    run_gemm(&g, offset_at(a_offs, a_signed, i), offset_at(b_offs, b_signed, i), offset_at(c_offs, c_signed, i));
  return NULL;
}

static napi_value set_threads(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  int64_t threads;
  if (!ds_args(env, info, 1, argv) || !ds_get_int(env, argv[0], "threads", 1, 1024, &threads)) return NULL;
  const int previous = openblas_get_num_threads();
  openblas_set_num_threads((int)threads);
  napi_create_int32(env, previous, &result);
  return result;
}

static napi_value get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_create_int32(env, openblas_get_num_threads(), &result);
  return result;
}

static napi_value blas_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, config, corename, threads;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &config);
  napi_create_string_utf8(env, openblas_get_corename(), NAPI_AUTO_LENGTH, &corename);
  napi_create_int32(env, openblas_get_num_threads(), &threads);
  napi_set_named_property(env, result, "config", config);
  napi_set_named_property(env, result, "corename", corename);
  napi_set_named_property(env, result, "threads", threads);
  return result;
}

static const ds_method methods[] = {
    {"sgemm", sgemm},
    {"sgemmBatched", sgemm_batched},
    {"sgemv", sgemv},
    {"setThreads", set_threads},
    {"getThreads", get_threads},
    {"blasInfo", blas_info},
    {NULL, NULL},
};

napi_status ds_init_blas(napi_env env, napi_value exports) {
  return ds_export_methods(env, exports, methods);
}
