/**
 * Attention recall@k of the indexer (docs/attention.md §12): the share of the DENSE main attention that falls
 * inside the indexer's top-k selection.
 *
 *   recall[b, t] = Σ_{s ∈ S_t} p[b, t, s]        p: head-summed, L1-normalised dense attention (layer.ts target)
 *   recall       = Σ_{b,t} w[b, t] · recall[b, t] / Σ_{b,t} w[b, t]
 *
 * S_t is the selected set (indices, −1 = empty slot); w weights the query rows (1 for the rows that count, 0 for
 * padding or rows a caller does not score), default 1 everywhere. A row whose prefix is no longer than k selects its
 * whole prefix and has recall 1. 1 means top-k attention sees exactly what dense attention sees; a random selection
 * of k of n keys has about k / n for spread-out attention, and for a peaked one it is 1 or 0 depending on the hit.
 * Not differentiable (a metric).
 */
import { dimOf, expectDtype, expectShape, InputError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { indicesToMask } from "./index-mask.ts"

/** Per-row recall [B, T] of `indices` (int32 [B, T, K]) under the dense target p [B, T, S]. */
export const attentionRecallRows = (target: tf.Tensor3D, indices: tf.Tensor3D): tf.Tensor2D => {
  expectShape("attentionRecall target", target, [null, null, null])
  expectShape("attentionRecall indices", indices, [dimOf(target, 0), dimOf(target, 1), null])
  expectDtype("attentionRecall indices", indices, "int32")
  return tf.tidy(() => {
    const mask = indicesToMask(indices, dimOf(target, 2))
    return tf.sum(tf.where(mask, target, tf.zerosLike(target)), -1) as tf.Tensor2D
  })
}

/**
 * Mean recall over the weighted rows (see the file comment). rows: [B·T] weights, row-major; default all 1.
 * Returns NaN when no row has weight.
 */
export const attentionRecall = (target: tf.Tensor3D, indices: tf.Tensor3D, rows?: ArrayLike<number>): number => {
  const [batch, tokens] = [dimOf(target, 0), dimOf(target, 1)]
  if (rows !== undefined && rows.length !== batch * tokens)
    throw new InputError({
      source: "attentionRecall rows",
      reason: `expected ${batch * tokens} row weights (B·T), got ${rows.length}`,
    })
  const perRow = attentionRecallRows(target, indices)
  const values = perRow.dataSync()
  perRow.dispose()
  let total = 0
  let weight = 0
  for (let i = 0; i < values.length; i++) {
    const w = rows === undefined ? 1 : (rows[i] as number)
    total += w * (values[i] as number)
    weight += w
  }
  return weight > 0 ? total / weight : Number.NaN
}
