/**
 * Indexer training losses (docs/attention.md §9).
 *
 *   Dense warm-up (stage A):  L_I = Σ_t KL( p[t, :] ‖ softmax_{s ≤ t}(I[t, :]) )
 *   Sparse stage (stage B):   L_I = Σ_t KL( p̂[t, S_t] ‖ softmax_{s ∈ S_t}(I[t, S_t]) ),  p̂ = p renormalised on S_t
 *
 * p[t, :] is the main attention of query t summed over heads and L1-normalised (layer.ts `training.target`).
 * KL(p ‖ q) = Σ p log p − Σ p log q over the masked keys; ∂L/∂I[t, s] = softmax(I[t, :])_s − p[t, s] on the mask.
 * The target is detached here as well, so the losses send gradient only into the scores I, and through them only
 * into the indexer weights (the layer detaches the indexer's inputs x and qr). Rows whose mask is empty, or whose
 * target has no mass on it, contribute 0. Reduction: the paper's sum over queries (and batch), or the mean over
 * all B·T query rows.
 */
import { dimOf, expectDtype, expectShape, nonDifferentiable } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { indicesToMask } from "./index-mask.ts"
import { maskedSoftmax } from "./masked-softmax.ts"

export interface IndexerLossOptions {
  /** "sum" over query rows, as the paper writes it (default), or "mean" over the B·T rows. */
  readonly reduction?: "sum" | "mean"
}

/** p̂ = target restricted to the mask, renormalised per row (zero rows stay zero). */
const restrictTarget = (target: tf.Tensor, mask: tf.Tensor): tf.Tensor => {
  const restricted = tf.where(mask, target, tf.zerosLike(target))
  const mass = tf.sum(restricted, -1, true)
  return tf.div(restricted, tf.where(tf.greater(mass, 0), mass, tf.onesLike(mass)))
}

/** p log p with 0 log 0 = 0. */
const plogp = (p: tf.Tensor): tf.Tensor => {
  const positive = tf.greater(p, 0)
  return tf.where(positive, tf.mul(p, tf.log(tf.where(positive, p, tf.onesLike(p)))), tf.zerosLike(p))
}

/** Σ_rows KL(p̂ ‖ softmax_mask(I)). Scalar. The target side is a constant of the tape (`nonDifferentiable`). */
const maskedKl = (
  target: tf.Tensor3D,
  scores: tf.Tensor3D,
  mask: tf.Tensor3D,
  options: IndexerLossOptions,
): tf.Scalar =>
  tf.tidy(() => {
    const p = nonDifferentiable(restrictTarget, target, mask)
    const entropyTerm = nonDifferentiable(plogp, p)
    const { lse } = maskedSoftmax(scores, mask)
    const finiteLse = tf.where(tf.isFinite(lse), lse, tf.zerosLike(lse))
    const logQ = tf.sub(tf.where(mask, scores, tf.zerosLike(scores)), tf.expandDims(finiteLse, -1))
    const total = tf.sum(tf.sub(entropyTerm, tf.mul(p, logQ)))
    return (options.reduction === "mean" ? tf.div(total, dimOf(scores, 0) * dimOf(scores, 1)) : total) as tf.Scalar
  })

const checkPair = (name: string, target: tf.Tensor3D, scores: tf.Tensor3D): void => {
  expectShape(`${name} scores`, scores, [null, null, null])
  expectShape(`${name} target`, target, scores.shape)
}

/**
 * Dense warm-up loss. target, scores: [B, T, S]; causal: bool [B, T, S] (the layer's `training.causal`).
 */
export const denseIndexerLoss = (
  target: tf.Tensor3D,
  scores: tf.Tensor3D,
  causal: tf.Tensor3D,
  options: IndexerLossOptions = {},
): tf.Scalar => {
  checkPair("denseIndexerLoss", target, scores)
  expectShape("denseIndexerLoss causal", causal, scores.shape)
  expectDtype("denseIndexerLoss causal", causal, "bool")
  return maskedKl(target, scores, causal, options)
}

/**
 * Sparse-stage loss over the selected sets. target, scores: [B, T, S]; indices: int32 [B, T, K] (−1 = empty).
 */
export const sparseIndexerLoss = (
  target: tf.Tensor3D,
  scores: tf.Tensor3D,
  indices: tf.Tensor3D,
  options: IndexerLossOptions = {},
): tf.Scalar => {
  checkPair("sparseIndexerLoss", target, scores)
  expectShape("sparseIndexerLoss indices", indices, [dimOf(scores, 0), dimOf(scores, 1), null])
  return tf.tidy(() => maskedKl(target, scores, indicesToMask(indices, dimOf(scores, 2)), options))
}
