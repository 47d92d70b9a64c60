/**
 * One optimizer step over one or more micro-batches (gradient accumulation), then DeepSeek-V3's aux-loss-free
 * balancing of the MoE gate biases (docs/model.md §4):
 *
 *   g = Σ_m (n_m / N) ∇L_m          L_m: mean loss of micro-batch m over its n_m target tokens, N = Σ n_m
 *   θ ← AdamW(θ, clip(g))           (optimizer.ts)
 *   b_e ← b_e + γ · sign(mean_e' load_e' − load_e)     per MoE layer, load = tokens routed to e over the step
 *
 * The optimizer's moments (trainer-state.ts `trainableParameters`) decide what is updated: not the gate biases, not
 * the indexer weights, which receive no gradient from the language-modelling loss (top-k is not differentiable;
 * their inputs are detached). Gradients are taken for every tfjs-trainable variable (watching fewer leaves
 * intermediate tensors of the indexer on the tape) and those without a moment are dropped.
 */
import * as tf from "@tensorflow/tfjs"
import { isMoeLayer } from "../config.ts"
import { type AdamWConfig, type AdamWState, adamWStep } from "../optimizer.ts"
import type { Model } from "../transformer.ts"
import { type LossOptions, languageModelLoss, type TokenBatch } from "./loss.ts"

export interface TrainStepOptions extends LossOptions {
  readonly learningRate: number
  readonly adamW: AdamWConfig
  /** Bias update speed γ (DeepSeek-V3: 0.001); 0 = off. */
  readonly biasUpdateSpeed?: number
}

export interface TrainStepResult {
  /** Mean cross-entropy over the step's target tokens. */
  readonly loss: number
  /** Global gradient norm before clipping. */
  readonly gradNorm: number
  /** Target tokens in the step. */
  readonly targetTokens: number
  /** Tokens per expert per MoE layer over the step. */
  readonly expertLoad: ReadonlyArray<Int32Array>
}

const targetCount = (batch: TokenBatch): number => {
  let n = 0
  for (const t of batch.targets) if (t >= 0) n++
  return n
}

/** Gradients of the loss of one micro-batch, keyed by parameter name, scaled by `weight`. */
const microBatchGradients = (model: Model, batch: TokenBatch, weight: number, options: LossOptions) => {
  const trainable = [...model.params.entries()].filter(([, v]) => v.trainable)
  const nameOf = new Map(trainable.map(([name, v]) => [v.name, name]))
  let crossEntropy = 0
  let expertLoad: ReadonlyArray<Int32Array> = []
  const { value, grads } = tf.variableGrads(
    () => {
      const result = languageModelLoss(model, batch, options)
      crossEntropy = result.crossEntropy
      expertLoad = result.expertLoad
      return tf.tidy(() => tf.mul(result.loss, weight)) as tf.Scalar
    },
    trainable.map(([, v]) => v),
  )
  value.dispose()
  const named = new Map<string, tf.Tensor>()
  for (const [variableName, g] of Object.entries(grads)) named.set(nameOf.get(variableName) as string, g)
  return { grads: named, crossEntropy, expertLoad }
}

const accumulate = (total: Map<string, tf.Tensor>, grads: Map<string, tf.Tensor>): void => {
  for (const [name, g] of grads) {
    const before = total.get(name)
    if (before === undefined) total.set(name, g)
    else {
      total.set(name, tf.add(before, g))
      before.dispose()
      g.dispose()
    }
  }
}

/** b_e += γ·sign(mean load − load_e) for every MoE layer's gate bias. */
export const updateGateBiases = (model: Model, loads: ReadonlyArray<Int32Array>, speed: number): void => {
  if (speed === 0) return
  let moeIndex = 0
  for (let l = 0; l < model.config.n_layers; l++) {
    if (!isMoeLayer(model.config, l)) continue
    const load = loads[moeIndex++]
    const bias = model.params.get(`layers.${l}.ffn.gate.bias`)
    if (load === undefined || bias === undefined) continue
    const mean = load.reduce((a, b) => a + b, 0) / load.length
    const delta = Float32Array.from(load, (x) => speed * Math.sign(mean - x))
    tf.tidy(() => bias.assign(tf.add(bias, tf.tensor1d(delta))))
  }
}

/** One optimizer step over `microBatches` (see the file comment). */
export const trainStep = (
  model: Model,
  optimizer: AdamWState,
  microBatches: ReadonlyArray<TokenBatch>,
  options: TrainStepOptions,
): TrainStepResult => {
  const counts = microBatches.map(targetCount)
  const total = counts.reduce((a, b) => a + b, 0)
  const grads = new Map<string, tf.Tensor>()
  let lossSum = 0
  const loads: Array<Int32Array> = []
  microBatches.forEach((batch, m) => {
    const weight = total === 0 ? 0 : (counts[m] as number) / total
    const step = microBatchGradients(model, batch, weight, options)
    accumulate(grads, step.grads)
    lossSum += step.crossEntropy * weight
    step.expertLoad.forEach((load, i) => {
      const into = loads[i] ?? new Int32Array(load.length)
      for (let e = 0; e < load.length; e++) into[e] = (into[e] as number) + (load[e] as number)
      loads[i] = into
    })
  })
  const gradNorm = adamWStep(model.params, grads, optimizer, options.learningRate, options.adamW)
  tf.dispose([...grads.values()])
  updateGateBiases(model, loads, options.biasUpdateSpeed ?? 0)
  return { loss: lossSum, gradNorm, targetTokens: total, expertLoad: loads }
}
