/**
 * Reducing the per-token loss to a scalar (TRL `loss_type`; docs/grpo.md §8, §2 for "grpo").
 *
 *   grpo    (V3.2)  L = (1/N) Σ_i [ Σ_t l_it m_it / max(1, Σ_t m_it) ]     per-sequence token mean, then mean
 *   bnpo            L = Σ_it l_it m_it / max(1, Σ_it m_it)                 token mean over the minibatch
 *   drGrpo          L = Σ_it l_it m_it / (N · maxCompletionLength)          constant normaliser (Dr. GRPO)
 *   dapo            L = Σ_it l_it m_it / numItemsInBatch                   token mean over the whole optimiser batch
 *
 * l, m: [N, T]. `numItemsInBatch` is the number of completion tokens in the batch of one optimiser step (TRL's
 * `num_items_in_batch`, summed over gradient-accumulation steps); it defaults to this minibatch's Σ m, where dapo
 * equals bnpo.
 */
import { expectShape } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import type { LossType } from "../config.ts"
import { maskedMean, maskedRowMean } from "./tensor-utils.ts"

export interface AggregateOptions {
  readonly maxCompletionLength: number
  readonly numItemsInBatch?: number
}

export const aggregateTokenLoss = (
  perTokenLoss: tf.Tensor2D,
  completionMask: tf.Tensor2D,
  lossType: LossType,
  options: AggregateOptions,
): tf.Scalar => {
  expectShape("completionMask", completionMask, perTokenLoss.shape)
  const n = perTokenLoss.shape[0]
  return tf.tidy(() => {
    switch (lossType) {
      case "grpo":
        return tf.mean(maskedRowMean(perTokenLoss, completionMask))
      case "bnpo":
        return maskedMean(perTokenLoss, completionMask)
      case "drGrpo":
        return tf.div(tf.sum(tf.mul(perTokenLoss, completionMask)), n * options.maxCompletionLength)
      case "dapo":
        return options.numItemsInBatch === undefined
          ? maskedMean(perTokenLoss, completionMask)
          : tf.div(tf.sum(tf.mul(perTokenLoss, completionMask)), options.numItemsInBatch)
    }
  })
}
