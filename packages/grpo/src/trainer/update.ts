/**
 * One GRPO optimiser update on one minibatch (docs/grpo.md §1, "for each gradient step"):
 *
 *   ℓ_θ   = policyLogProbs(model, batch)                  forced routing + sampling mask (on the tape)
 *   ℓ_ref = policyLogProbs(reference, batch)              only when β > 0 (no tape)
 *   L     = grpoLoss(ℓ_θ, ℓ_sampling, ℓ_ref, Â)           OPSM recomputed here, with ℓ_θ detached
 *   θ    ← AdamW(θ, clip(∇L))                             @ds/model's optimiser
 *
 * What is updated is decided by the optimiser's moments (@ds/model `trainableParameters`, the same set SFT trains
 * and the trainer checkpoint saves): not the gate biases, not the indexer weights (no gradient reaches them: top-k
 * is not differentiable); gradients of other variables are dropped. Returns the minibatch figures for the metrics.
 */
import { stopGradient } from "@ds/core"
import { type AdamWConfig, type AdamWState, adamWStep, type Model } from "@ds/model"
import * as tf from "@tensorflow/tfjs"
import type { GrpoConfig } from "../config.ts"
import { type GrpoLossInputs, type GrpoLossStats, grpoLoss, grpoLossStats } from "../loss/grpo-loss.ts"
import { maskedMean } from "../loss/tensor-utils.ts"
import type { RolloutBatch } from "../rollout/collate.ts"
import { type PolicyForwardOptions, policyLogProbs } from "./policy-log-probs.ts"

export interface UpdateStats extends GrpoLossStats {
  /** Token mean entropy of π_θ (over the kept sets under Keep Sampling Mask). */
  readonly entropy: number
  readonly gradNorm: number
}

export interface UpdateOptions {
  readonly config: GrpoConfig
  readonly learningRate: number
  readonly adamW: AdamWConfig
  /** The frozen reference model; required when β > 0. */
  readonly reference?: Model
  /** Completion tokens of the optimiser batch ("dapo" normaliser). */
  readonly numItemsInBatch?: number
}

export const forwardOptions = (config: GrpoConfig): PolicyForwardOptions => ({
  keepRouting: config.keepRouting,
  keepSamplingMask: config.keepSamplingMask,
  temperature: config.temperature,
})

/** ℓ_ref of the batch under the frozen reference (its own routing; kept-set renormalisation when configured). */
export const referenceLogProbs = (reference: Model, batch: RolloutBatch, config: GrpoConfig): tf.Tensor2D => {
  const result = policyLogProbs(reference, batch, {
    keepRouting: false,
    keepSamplingMask: config.keepSamplingMask && config.samplingMaskOnReference,
    temperature: config.temperature,
  })
  result.entropy.dispose()
  return result.logps
}

const trainableOf = (model: Model) => {
  const trainable = [...model.params.entries()].filter(([, v]) => v.trainable)
  return { variables: trainable.map(([, v]) => v), nameOf: new Map(trainable.map(([name, v]) => [v.name, name])) }
}

/** One update of `model` on `batch` with per-sequence advantages [N]. Mutates the parameters and the optimiser. */
export const grpoUpdate = (
  model: Model,
  optimizer: AdamWState,
  batch: RolloutBatch,
  advantages: Float32Array,
  options: UpdateOptions,
): UpdateStats => {
  const { config } = options
  const shape: [number, number] = [batch.size, batch.completionLength]
  const samplingLogps = tf.tensor2d(batch.samplingLogps, shape)
  const completionMask = tf.tensor2d(batch.completionMask, shape)
  const advantageTensor = tf.tensor1d(advantages)
  const refLogps =
    config.beta > 0 && options.reference !== undefined ? referenceLogProbs(options.reference, batch, config) : undefined
  const { variables, nameOf } = trainableOf(model)
  let policySnapshot: tf.Tensor2D | undefined
  let entropy = Number.NaN
  const inputsWith = (policyLogps: tf.Tensor2D): GrpoLossInputs => ({
    policyLogps,
    samplingLogps,
    advantages: advantageTensor,
    completionMask,
    ...(refLogps === undefined ? {} : { refLogps }),
    ...(options.numItemsInBatch === undefined ? {} : { numItemsInBatch: options.numItemsInBatch }),
  })
  try {
    const { value, grads } = tf.variableGrads(() => {
      const policy = policyLogProbs(model, batch, forwardOptions(config))
      policySnapshot = tf.keep(stopGradient(policy.logps))
      entropy = tf.tidy(() => maskedMean(policy.entropy, completionMask).dataSync()[0] ?? Number.NaN)
      policy.entropy.dispose()
      const loss = grpoLoss(inputsWith(policy.logps), config)
      policy.logps.dispose()
      return loss
    }, variables)
    value.dispose()
    const named = new Map<string, tf.Tensor>()
    for (const [variableName, g] of Object.entries(grads)) named.set(nameOf.get(variableName) ?? variableName, g)
    const gradNorm = adamWStep(model.params, named, optimizer, options.learningRate, options.adamW)
    tf.dispose([...named.values()])
    const stats = grpoLossStats(inputsWith(policySnapshot as tf.Tensor2D), config)
    return { ...stats, entropy, gradNorm }
  } finally {
    tf.dispose([samplingLogps, completionMask, advantageTensor])
    refLogps?.dispose()
    policySnapshot?.dispose()
  }
}
