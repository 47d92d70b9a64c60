/**
 * Rotary position embedding with the YaRN frequency ramp (docs/attention.md §7, reference `precompute_freqs_cis`
 * and `apply_rotary_emb` of upstream commit 87e509a, which has the "indexer RoPE is not interleaved" fix).
 *
 *   f_i  = θ^(−2i/R)                                               i = 0 .. R/2−1, R = qk_rope_head_dim
 *   YaRN (only when max_seq_len > original_seq_len):
 *     d(r) = R · ln(L₀ / (2π r)) / (2 ln θ)                         L₀ = original_seq_len
 *     low = max(floor(d(β_fast)), 0), high = min(ceil(d(β_slow)), R−1)
 *     ramp_i = clamp((i − low) / (high − low), 0, 1)
 *     f'_i = f_i/s · ramp_i + f_i · (1 − ramp_i)                   s = rope_factor
 *   angle at position p: φ_i = p · f'_i   (float32 product, as torch.outer)
 *
 * Two pair layouts rotate by the same angles:
 *   interleaved (MLA q_rope and k_rope):    pair i = (x[2i], x[2i+1])
 *   half-split  (indexer q and k):          pair i = (x[i], x[i+R/2])
 *   (a, b) ↦ (a cos φ − b sin φ, a sin φ + b cos φ)
 *
 * The YaRN temperature (mscale) goes into the softmax scale, not into cos/sin (config.ts `mlaSoftmaxScale`).
 * Deviation: angles are computed per call from the positions instead of from a precomputed (max_seq_len × R/2)
 * table; the values are the same float32 numbers up to the last ulp of cos/sin.
 */
import { dimOf, expectShape } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { type AttentionConfig, yarnEnabled } from "./config.ts"

/** Which dims of the rope slice form a rotated pair. */
export type RopeLayout = "interleaved" | "half-split"

/** cos φ and sin φ for every (sequence, token) position: each [B, T, R/2]. */
export interface RopeTable {
  readonly cos: tf.Tensor3D
  readonly sin: tf.Tensor3D
}

/** The YaRN correction dim for `rotations` full turns over the original context (reference `find_correction_dim`). */
const correctionDim = (rotations: number, config: AttentionConfig): number =>
  (config.qk_rope_head_dim * Math.log(config.original_seq_len / (rotations * 2 * Math.PI))) /
  (2 * Math.log(config.rope_theta))

/**
 * The YaRN ramp bounds (low, high) in pair indices (reference `find_correction_range`; 10 and 23 at 671B).
 */
export const yarnRampRange = (config: AttentionConfig): { readonly low: number; readonly high: number } => ({
  low: Math.max(Math.floor(correctionDim(config.beta_fast, config)), 0),
  high: Math.min(Math.ceil(correctionDim(config.beta_slow, config)), config.qk_rope_head_dim - 1),
})

/** The R/2 rotation frequencies f'_i (float32 values, rounded as the reference's float32 arithmetic rounds them). */
export const ropeFrequencies = (config: AttentionConfig): Float32Array => {
  const half = config.qk_rope_head_dim / 2
  const f = Math.fround
  const base = Array.from({ length: half }, (_, i) =>
    f(1 / f(config.rope_theta ** f(f(2 * i) / config.qk_rope_head_dim))),
  )
  if (!yarnEnabled(config)) return Float32Array.from(base)
  const { low, high } = yarnRampRange(config)
  const span = low === high ? 0.001 : high - low
  return Float32Array.from(base, (freq, i) => {
    const ramp = Math.min(Math.max(f((i - low) / span), 0), 1)
    const smooth = f(1 - ramp)
    return f(f(f(freq / config.rope_factor) * f(1 - smooth)) + f(freq * smooth))
  })
}

/** cos/sin of `positions · f'` for positions [B, T] (any numeric dtype; exact integers up to 2^24). */
export const ropeTable = (config: AttentionConfig, positions: tf.Tensor2D): RopeTable => {
  expectShape("ropeTable positions", positions, [null, null])
  return tf.tidy(() => {
    const freqs = tf.tensor1d(ropeFrequencies(config))
    const angles = tf.mul(tf.expandDims(tf.cast(positions, "float32"), -1), freqs) as tf.Tensor3D
    return { cos: tf.cos(angles), sin: tf.sin(angles) }
  })
}

/** Rotates the pairs of the last axis of x: [B, T, H, R] (or [B, T, R]) by the table's angles for (b, t). */
export const applyRope = <T extends tf.Tensor3D | tf.Tensor4D>(x: T, table: RopeTable, layout: RopeLayout): T => {
  const [batch, tokens] = [dimOf(x, 0), dimOf(x, 1)]
  const half = dimOf(table.cos, 2)
  expectShape("applyRope x", x, x.rank === 3 ? [batch, tokens, 2 * half] : [batch, tokens, null, 2 * half])
  expectShape("applyRope table.cos", table.cos, [batch, tokens, half])
  return tf.tidy(() => {
    const x4 = x.rank === 3 ? tf.expandDims(x, 2) : x
    const rotated =
      layout === "interleaved" ? rotateInterleaved(x4 as tf.Tensor4D, table) : rotateHalfSplit(x4 as tf.Tensor4D, table)
    return (x.rank === 3 ? tf.squeeze(rotated, [2]) : rotated) as T
  })
}

/** Pairs (x[2i], x[2i+1]): view [..., R/2, 2], rotate, view back. */
const rotateInterleaved = (x: tf.Tensor4D, table: RopeTable): tf.Tensor => {
  const [batch, tokens, heads, width] = x.shape
  const pairs = x.reshape([batch, tokens, heads, width / 2, 2])
  const [a, b] = tf.split(pairs, 2, -1) as [tf.Tensor, tf.Tensor]
  const cos = table.cos.reshape([batch, tokens, 1, width / 2, 1])
  const sin = table.sin.reshape([batch, tokens, 1, width / 2, 1])
  const real = tf.sub(tf.mul(a, cos), tf.mul(b, sin))
  const imag = tf.add(tf.mul(a, sin), tf.mul(b, cos))
  return tf.concat([real, imag], -1).reshape([batch, tokens, heads, width])
}

/** Pairs (x[i], x[i+R/2]): rotate the two halves, keep the half-split order. */
const rotateHalfSplit = (x: tf.Tensor4D, table: RopeTable): tf.Tensor => {
  const [batch, tokens, , width] = x.shape
  const [a, b] = tf.split(x, 2, -1) as [tf.Tensor, tf.Tensor]
  const cos = table.cos.reshape([batch, tokens, 1, width / 2])
  const sin = table.sin.reshape([batch, tokens, 1, width / 2])
  return tf.concat([tf.sub(tf.mul(a, cos), tf.mul(b, sin)), tf.add(tf.mul(a, sin), tf.mul(b, cos))], -1)
}
