/**
 * The training forward of a rollout batch (docs/grpo.md §1: "forward policy with forced routing + sampling masks
 * -> logp_θ"), and the same for the frozen reference.
 *
 *   logits   = forward(model, input [N, L], forcedExperts = recorded routing if Keep Routing)   [N, L, V]
 *   z[n, t]  = logits[n, P_n − 1 + t] / τ                                                     [N, C, V]
 *   ℓ[n, t]  = log softmax over K_nt of z[n, t] at o_nt        (K = recorded kept set if Keep Sampling Mask)
 *
 * The completion positions are picked with a one-hot selection matrix S [N, C, L] and a batched matmul
 * (z = S · logits), which is differentiable on every backend without a gather gradient. Dividing by the sampling
 * temperature τ makes ℓ comparable with the engine's log-probs, which are taken after temperature.
 * With Keep Routing the gate weights are still recomputed from the current router on the forced experts, so the
 * router gets gradients (@ds/model `moe({ forced })`).
 */
import { stopGradient } from "@ds/core"
import { disposeForward, forward, type Model } from "@ds/model"
import * as tf from "@tensorflow/tfjs"
import { keptSetMask, sampledTokenLogProbs, tokenEntropy } from "../loss/token-log-probs.ts"
import type { RolloutBatch } from "../rollout/collate.ts"

export interface PolicyForwardOptions {
  /** Replay the recorded experts (Keep Routing). Needs `batch.routedExperts`. */
  readonly keepRouting: boolean
  /** Renormalise over the recorded kept sets (Keep Sampling Mask). Needs `batch.keptTokens`. */
  readonly keepSamplingMask: boolean
  /** Sampling temperature τ > 0. */
  readonly temperature: number
}

export interface PolicyLogProbs {
  /** ℓ [N, C] (on the tape when called inside a gradient). */
  readonly logps: tf.Tensor2D
  /** Entropy of the (masked) distribution at each completion step, [N, C], detached. */
  readonly entropy: tf.Tensor2D
  /** Expert ids the forward used per MoE layer, [N·L·K] (the replayed ones under Keep Routing). */
  readonly routing: ReadonlyArray<Int32Array>
}

const validLengths = (batch: RolloutBatch): Array<number> =>
  Array.from({ length: batch.size }, (_, n) => {
    let count = 0
    for (let p = 0; p < batch.inputLength; p++) count += batch.inputValid[n * batch.inputLength + p] ?? 0
    return Math.max(1, count)
  })

/** S [N, C, L] with S[n, t, P_n − 1 + t] = 1 for real completion steps. */
const selectionMatrix = (batch: RolloutBatch): tf.Tensor3D => {
  const { size, completionLength: c, inputLength: l } = batch
  const values = new Float32Array(size * c * l)
  for (let n = 0; n < size; n++)
    for (let t = 0; t < c; t++)
      if ((batch.completionMask[n * c + t] ?? 0) > 0)
        values[(n * c + t) * l + (batch.targetPositions[n * c + t] ?? 0)] = 1
  return tf.tensor3d(values, [size, c, l])
}

/** Temperature-scaled logits of the completion steps, [N, C, V]. */
export const completionLogits = (
  model: Model,
  batch: RolloutBatch,
  options: PolicyForwardOptions,
): { readonly logits: tf.Tensor3D; readonly routing: ReadonlyArray<Int32Array> } => {
  const tokens = tf.tensor2d(batch.inputTokens, [batch.size, batch.inputLength], "int32")
  const forced = options.keepRouting && batch.routedExperts !== null ? { forcedExperts: batch.routedExperts } : {}
  const result = forward(model, tokens, { logits: "all", validLengths: validLengths(batch), ...forced })
  try {
    const logits = tf.tidy(() => {
      const picked = tf.matMul(selectionMatrix(batch), result.logits as tf.Tensor3D) // [N, C, V]
      return (options.temperature === 1 ? picked : tf.div(picked, options.temperature)) as tf.Tensor3D
    })
    return { logits, routing: result.routing }
  } finally {
    tokens.dispose()
    disposeForward(result)
  }
}

/** ℓ of the sampled tokens and the step entropies (see the file comment). */
export const policyLogProbs = (model: Model, batch: RolloutBatch, options: PolicyForwardOptions): PolicyLogProbs => {
  const { logits, routing } = completionLogits(model, batch, options)
  const kept =
    options.keepSamplingMask && batch.keptTokens !== null
      ? keptSetMask(batch.keptTokens, batch.completionLength, logits.shape[2])
      : null
  try {
    const targets = tf.tensor2d(batch.targets, [batch.size, batch.completionLength], "int32")
    const logps = sampledTokenLogProbs(logits, targets, kept)
    targets.dispose()
    const entropy = tf.tidy(() => tokenEntropy(stopGradient(logits), kept))
    return { logps, entropy, routing }
  } finally {
    logits.dispose()
    kept?.dispose()
  }
}
