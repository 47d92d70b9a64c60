/**
 * Off-policy sequence masking, OPSM (docs/grpo.md §5; V3.2 §3.1 eq. 8).
 *
 *   M_i = 0  if  Â_i < 0  and  (1/|o_i|) Σ_t (ℓ_sampling,it − ℓ_θ,it) > δ
 *   M_i = 1  otherwise
 *
 * ℓ_sampling = log-probs the sampling engine returned (π_old of the paper), ℓ_θ = the current policy's, [N, T];
 * advantages: [N]; completionMask: [N, T] (1 = real token). The decision is per sequence (a k1 estimate of
 * KL(π_old ‖ π_θ) averaged over the sequence's tokens) and broadcast to its tokens — slime decided per token
 * (slime `compute_opsm_mask`, fixed in slime PR #1917). It reads ℓ_θ detached: the mask is a 0/1 gate, recomputed each minibatch. It compares with
 * the SAMPLING log-probs, never the trainer's recomputed old ones (TRL's bug fixed in PR #4857).
 * Returns [N] with 1 = keep the policy term, 0 = masked.
 */
import { expectRank, expectShape, stopGradient } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { maskedRowMean } from "./tensor-utils.ts"

/** mean_t (ℓ_sampling − ℓ_θ) per sequence, with ℓ_θ detached. -> [N] */
export const sequenceOffPolicyDivergence = (
  policyLogps: tf.Tensor2D,
  samplingLogps: tf.Tensor2D,
  completionMask: tf.Tensor2D,
): tf.Tensor1D => {
  expectShape("samplingLogps", samplingLogps, policyLogps.shape)
  expectShape("completionMask", completionMask, policyLogps.shape)
  return tf.tidy(() => {
    const policy = stopGradient(policyLogps)
    return maskedRowMean(tf.sub(samplingLogps, policy), completionMask)
  })
}

export const offPolicySequenceMask = (
  advantages: tf.Tensor1D,
  policyLogps: tf.Tensor2D,
  samplingLogps: tf.Tensor2D,
  completionMask: tf.Tensor2D,
  delta: number,
): tf.Tensor1D => {
  const [n = 0] = expectRank("policyLogps", policyLogps, 2)
  expectShape("advantages", advantages, [n])
  return tf.tidy(() => {
    const divergence = sequenceOffPolicyDivergence(policyLogps, samplingLogps, completionMask)
    const masked = tf.logicalAnd(tf.less(stopGradient(advantages), 0), tf.greater(divergence, delta))
    return tf.cast(tf.logicalNot(masked), "float32") as tf.Tensor1D
  })
}
