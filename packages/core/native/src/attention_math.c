/*
 * Vector helpers of the attention module (row maxima, exponentials, softmax rows), written as plain loops that
 * GCC vectorises; each is compiled three times (AVX-512, AVX2+FMA, baseline x86-64) and the best one for the CPU
 * is picked when the addon loads (target_clones). Other compilers and architectures get the baseline loop.
 *
 *   softmax row:  m = max_i x[i];  e_i = exp(x[i] − m);  p_i = e_i / Σ e;  lse = m + log Σ e
 *   exp: Cephes-style range reduction x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial (≈1 ulp), 2^n by exponent
 *   bits; inputs below −87.33 give 0 (every input here is ≤ 0 after the max shift).
 * Sums and maxima use 16 independent partial results (a vectorisable order; float32 like the tfjs reference).
 * no-trapping-math: FP exceptions are never inspected, and it lets GCC vectorise the float → int step of exp.
 */
#pragma GCC optimize("fp-contract=fast", "no-trapping-math")
#include <math.h>
#include <string.h>

#include "attention_kernels.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define DS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DS_CLONES
#endif

#define LANES 16

static inline float exp_nonpositive(float x) {
  const float lo = -87.3365447505531f;
  float c = x < lo ? lo : x;
  const float n = floorf(c * 1.44269504088896341f + 0.5f);
  float r = c - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return x < lo ? 0.0f : p * scale;
}

DS_CLONES float ds_attn_max(const float* x, int64_t n) {
  float lanes[LANES];
  for (int j = 0; j < LANES; j++) lanes[j] = -INFINITY;
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) lanes[j] = x[i + j] > lanes[j] ? x[i + j] : lanes[j];
  float m = -INFINITY;
  for (int j = 0; j < LANES; j++) m = lanes[j] > m ? lanes[j] : m;
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

DS_CLONES float ds_attn_exp_shift_sum(float* x, int64_t n, float shift) {
  for (int64_t i = 0; i < n; i++) x[i] = exp_nonpositive(x[i] - shift);
  float lanes[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) lanes[j] += x[i + j];
  float total = 0.0f;
  for (int j = 0; j < LANES; j++) total += lanes[j];
  for (; i < n; i++) total += x[i];
  return total;
}

DS_CLONES static void scale_row(float* x, int64_t n, float a) {
  for (int64_t i = 0; i < n; i++) x[i] *= a;
}

float ds_attn_softmax_row(float* x, int64_t n) {
  if (n <= 0) return -INFINITY;
  const float m = ds_attn_max(x, n);
  if (!isfinite(m)) {
    /* Only reachable with ±∞ or NaN logits: fall back to the exact formula with libm. */
    float total = 0.0f;
    for (int64_t i = 0; i < n; i++) total += (x[i] = expf(x[i] - m));
    for (int64_t i = 0; i < n; i++) x[i] /= total;
    return m + logf(total);
  }
  const float total = ds_attn_exp_shift_sum(x, n, m);
  scale_row(x, n, 1.0f / total);
  return m + logf(total);
}
