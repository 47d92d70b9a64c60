/**
 * Clipped surrogate objective (docs/grpo.md §3; PPO; TRL `epsilon`, `epsilon_high`, `importance_sampling_level`).
 *
 *   r_it  = exp(ℓ_θ,it − ℓ_old,it)                                    token level (GRPO, V3.2)
 *   r_it  = exp( (1/|o_i|) Σ_t (ℓ_θ,it − ℓ_old,it) )  for every t      sequence level (GSPO)
 *   pg_it = min( r_it · Â_i , clip(r_it, 1 − ε_low, 1 + ε_high) · Â_i )
 *
 * ℓ_θ, ℓ_old, completionMask: [N, T]; Â: [N] (one value per sequence, broadcast over its tokens). Returns the
 * objective to MAXIMISE per token, [N, T]; gradients flow through ℓ_θ only.
 */
import { expectRank, expectShape } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { maskedRowMean } from "./tensor-utils.ts"

export interface ClipRange {
  readonly low: number
  readonly high: number
}

/** log r per token [N, T]; at sequence level the masked mean of log r broadcast over the row. */
export const logImportanceRatio = (
  policyLogps: tf.Tensor2D,
  oldLogps: tf.Tensor2D,
  completionMask: tf.Tensor2D,
  level: "token" | "sequence" = "token",
): tf.Tensor2D => {
  expectShape("oldLogps", oldLogps, policyLogps.shape)
  expectShape("completionMask", completionMask, policyLogps.shape)
  return tf.tidy(() => {
    const logRatio = tf.sub(policyLogps, oldLogps) as tf.Tensor2D
    if (level === "token") return logRatio
    return tf.mul(tf.expandDims(maskedRowMean(logRatio, completionMask), 1), tf.onesLike(logRatio)) as tf.Tensor2D
  })
}

/** pg_it from the log-ratio [N, T] and the advantages [N]. -> [N, T] */
export const clippedSurrogate = (logRatio: tf.Tensor2D, advantages: tf.Tensor1D, clip: ClipRange): tf.Tensor2D => {
  const [n = 0] = expectRank("logRatio", logRatio, 2)
  expectShape("advantages", advantages, [n])
  return tf.tidy(() => {
    const ratio = tf.exp(logRatio)
    const a = tf.expandDims(advantages, 1) // [N, 1]
    const unclipped = tf.mul(ratio, a)
    const clipped = tf.mul(tf.clipByValue(ratio, 1 - clip.low, 1 + clip.high), a)
    return tf.minimum(unclipped, clipped) as tf.Tensor2D
  })
}
