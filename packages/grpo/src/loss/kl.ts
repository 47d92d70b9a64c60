/**
 * Per-token KL penalty to the frozen reference (docs/grpo.md §4).
 *
 *   k3_t = π_ref/π_θ − log(π_ref/π_θ) − 1 = exp(ℓ_ref − ℓ_θ) − (ℓ_ref − ℓ_θ) − 1          (plain k3, TRL default)
 *   D_t  = (π_θ/π_old) · k3_t = exp(ℓ_θ − ℓ_old) · k3_t                                   (V3.2 unbiased estimate)
 *
 * ℓ = log-probabilities of the sampled tokens, [N, T]. Computed in log space. Gradients flow through BOTH the ratio
 * and k3 (the ratio is not detached), which gives
 *
 *   ∇_θ D_t = (π_θ/π_old) · (ℓ_θ − ℓ_ref) · ∇_θ ℓ_θ
 *
 * whose expectation under π_old is the exact gradient of KL(π_θ ‖ π_ref). Plain k3 has gradient
 * (1 − π_ref/π_θ)·∇ℓ_θ instead. The ratio uses the old-policy log-probs of the ratio (per token even when the
 * surrogate uses a sequence-level ratio: TRL issue #6586).
 */
import { expectShape } from "@ds/core"
import * as tf from "@tensorflow/tfjs"

/** Plain k3. policyLogps, refLogps: [N, T] -> [N, T] */
export const k3 = (policyLogps: tf.Tensor2D, refLogps: tf.Tensor2D): tf.Tensor2D => {
  expectShape("refLogps", refLogps, policyLogps.shape)
  return tf.tidy(() => {
    const logRatio = tf.sub(refLogps, policyLogps)
    return tf.sub(tf.sub(tf.exp(logRatio), logRatio), 1) as tf.Tensor2D
  })
}

/** V3.2's importance-weighted k3. policyLogps, oldLogps, refLogps: [N, T] -> [N, T] */
export const unbiasedKl = (policyLogps: tf.Tensor2D, oldLogps: tf.Tensor2D, refLogps: tf.Tensor2D): tf.Tensor2D => {
  expectShape("oldLogps", oldLogps, policyLogps.shape)
  return tf.tidy(() => tf.mul(tf.exp(tf.sub(policyLogps, oldLogps)), k3(policyLogps, refLogps)) as tf.Tensor2D)
}

/** The estimate `estimator` names. */
export const perTokenKl = (
  estimator: "unbiased" | "k3",
  policyLogps: tf.Tensor2D,
  oldLogps: tf.Tensor2D,
  refLogps: tf.Tensor2D,
): tf.Tensor2D => (estimator === "unbiased" ? unbiasedKl(policyLogps, oldLogps, refLogps) : k3(policyLogps, refLogps))
