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
 * the valid query rows.
 *
 * Right padding: with `validLengths`, query rows t ≥ valid[b] are padding (layout.ts). Their target is zeroed
 * (p[b, t, :] = 0), so they add 0 to the loss, get exactly 0 gradient (∂L/∂I = −p + softmax · Σp = 0), and do not
 * count in the mean: L_mean = L_sum / Σ_b valid[b]. A row whose mask is empty is softmaxed over all keys instead
 * (its p is 0, so the value is unchanged) to keep the backward pass free of log(0).
 */
import { dimOf, expectDtype, expectShape, InputError, nonDifferentiable } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { indicesToMask } from "./index-mask.ts"
import { maskedSoftmax } from "./masked-softmax.ts"

export interface IndexerLossOptions {
  /** "sum" over query rows, as the paper writes it (default), or "mean" over the B·T rows. */
  readonly reduction?: "sum" | "mean"
  /**
   * Real query rows per sequence (B entries, each ≤ T); rows t ≥ validLengths[b] are right padding and are masked
   * out of the loss and of the mean's count. Default: every row is real.
   */
  readonly validLengths?: ReadonlyArray<number>
}

/** bool [B, T, 1]: query row (b, t) is real (t < validLengths[b]); undefined when every row is. */
const queryRows = (batch: number, tokens: number, validLengths: ReadonlyArray<number> | undefined) => {
  if (validLengths === undefined) return undefined
  if (validLengths.length !== batch || validLengths.some((v) => !Number.isInteger(v) || v < 0 || v > tokens))
    throw new InputError({
      source: "validLengths",
      reason: `expected ${batch} integers in [0, ${tokens}] (real query rows per sequence), got [${validLengths.join(", ")}]`,
    })
  return tf.tidy(
    () =>
      tf.less(
        tf.range(0, tokens, 1, "int32").reshape([1, tokens, 1]),
        tf.tensor1d(Int32Array.from(validLengths), "int32").reshape([batch, 1, 1]),
      ) as tf.Tensor3D,
  )
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
    const [batch, tokens] = [dimOf(scores, 0), dimOf(scores, 1)]
    const rows = queryRows(batch, tokens, options.validLengths)
    const targetMask = rows === undefined ? mask : tf.logicalAnd(mask, rows)
    const p = nonDifferentiable(restrictTarget, target, targetMask)
    const entropyTerm = nonDifferentiable(plogp, p)
    // Empty rows (p = 0 there) take every key, so lse stays finite and its backward pass has no log(0).
    const softmaxMask = tf.logicalOr(mask, tf.logicalNot(tf.any(mask, -1, true)))
    const { lse } = maskedSoftmax(scores, softmaxMask)
    const logQ = tf.sub(tf.where(softmaxMask, scores, tf.zerosLike(scores)), tf.expandDims(lse, -1))
    const total = tf.sum(tf.sub(entropyTerm, tf.mul(p, logQ)))
    if (options.reduction !== "mean") return total as tf.Scalar
    const count = options.validLengths?.reduce((a, v) => a + v, 0) ?? batch * tokens
    return tf.div(total, Math.max(1, count)) as tf.Scalar
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
