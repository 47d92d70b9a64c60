/**
 * Normalisations of the reference model (docs/model.md §2, docs/attention.md §3), float32, eps 1e-6:
 *
 *   RMSNorm(x)   = w ⊙ x / sqrt(mean(x²) + eps)                     (attn_norm, ffn_norm, q_norm, kv_norm, norm)
 *   LayerNorm(x) = w ⊙ (x − mean(x)) / sqrt(var(x) + eps) + b        (indexer k_norm; biased variance, as torch)
 *
 * Both normalise over the last axis; the weight (and bias) have the size of that axis.
 */
import { dimOf, expectShape } from "@ds/core"
import * as tf from "@tensorflow/tfjs"

/** The reference epsilon of RMSNorm and LayerNorm. */
export const normEps = 1e-6

/** RMSNorm over the last axis. x: [..., D], weight: [D]. */
export const rmsNorm = (x: tf.Tensor, weight: tf.Tensor, eps = normEps): tf.Tensor => {
  expectShape("rmsNorm weight", weight, [dimOf(x, x.rank - 1)])
  return tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), weight))
}

/** LayerNorm over the last axis with weight and bias. x: [..., D], weight, bias: [D]. */
export const layerNorm = (x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps = normEps): tf.Tensor => {
  const size = dimOf(x, x.rank - 1)
  expectShape("layerNorm weight", weight, [size])
  expectShape("layerNorm bias", bias, [size])
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true)
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), weight), bias)
  })
}
