/**
 * One optimizer step over one or more micro-batches (gradient accumulation), then DeepSeek-V3's aux-loss-free
 * balancing of the MoE gate biases (docs/model.md §4):
 *
 *   g = Σ_m (n_m / N) ∇_θ L_m       L_m: the stage's loss of micro-batch m (stage-loss.ts), n_m its target tokens
 *                                   (its valid tokens in the indexer warm-up), N = Σ n_m; θ: the TRAINED parameters
 *   θ ← AdamW(θ, clip(g))           (optimizer.ts)
 *   b_e ← b_e + γ · sign(mean_e' load_e' − load_e)     per MoE layer, load = tokens routed to e over the step
 *
 * θ is exactly the optimizer's moments (trainer-state.ts `trainableParameters` of the run's stage): the gradient
 * is taken with respect to those variables only, so frozen parameters (everything but the indexer in the warm-up;
 * the indexer and the gate biases otherwise) get no backward pass. Recall@k is measured per step in the stages that
 * train the indexer (stage-loss.ts), on the first micro-batch.
 */
import * as tf from "@tensorflow/tfjs"
import { isMoeLayer } from "../config.ts"
import { type AdamWConfig, type AdamWState, adamWStep } from "../optimizer.ts"
import type { Model } from "../transformer.ts"
import type { TokenBatch } from "./loss.ts"
import { attentionRecallOf, type StageLossOptions, stageLoss } from "./stage-loss.ts"
import { stagePlan, type TrainingStage } from "./stages.ts"

export interface TrainStepOptions extends StageLossOptions {
  /** The training stage (stages.ts). Default "sft" with `selection` as given (top-k by default). */
  readonly stage?: TrainingStage
  readonly learningRate: number
  readonly adamW: AdamWConfig
  /** Bias update speed γ (DeepSeek-V3: 0.001); 0 = off. */
  readonly biasUpdateSpeed?: number
}

export interface TrainStepResult {
  /** The stage's objective: mean cross-entropy over the step's target tokens (the indexer KL in the warm-up). */
  readonly loss: number
  /** Mean cross-entropy (absent in the warm-up, which computes none). */
  readonly crossEntropy?: number
  /** mean over layers of the indexer KL (warm-up and sparse stage). */
  readonly indexerKl?: number
  /** Recall@k of the indexer against dense attention (warm-up and sparse stage). */
  readonly recall?: number
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

/** Gradients of the stage loss of one micro-batch with respect to `trained` only, keyed by name, scaled by `weight`. */
const microBatchGradients = (
  model: Model,
  batch: TokenBatch,
  weight: number,
  trained: ReadonlyArray<readonly [string, tf.Variable]>,
  options: TrainStepOptions,
) => {
  const nameOf = new Map(trained.map(([name, v]) => [v.name, name]))
  let parts: Omit<ReturnType<typeof stageLoss>, "loss"> = { expertLoad: [] }
  const { value, grads } = tf.variableGrads(
    () => {
      const { loss, ...rest } = stageLoss(model, batch, options.stage ?? "sft", options)
      parts = rest
      return tf.tidy(() => tf.mul(loss, weight)) as tf.Scalar
    },
    trained.map(([, v]) => v),
  )
  value.dispose()
  const named = new Map<string, tf.Tensor>()
  for (const [variableName, g] of Object.entries(grads)) named.set(nameOf.get(variableName) as string, g)
  return { grads: named, ...parts }
}

/** The variables of the optimizer's moments (what the step trains). */
const trainedVariables = (model: Model, optimizer: AdamWState): Array<readonly [string, tf.Variable]> =>
  [...optimizer.m.keys()].flatMap((name) => {
    const v = model.params.get(name)
    return v === undefined ? [] : [[name, v] as const]
  })

/** Tokens a micro-batch's loss averages over: its targets, or in the warm-up (no targets needed) its valid rows. */
const weightCount = (batch: TokenBatch, stage: TrainingStage): number =>
  stagePlan(stage).languageModel
    ? targetCount(batch)
    : (batch.validLengths?.reduce((a, v) => a + v, 0) ?? batch.batch * batch.length)

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
  const stage = options.stage ?? "sft"
  const plan = stagePlan(stage)
  const counts = microBatches.map((b) => weightCount(b, stage))
  const total = counts.reduce((a, b) => a + b, 0)
  const trained = trainedVariables(model, optimizer)
  const first = microBatches[0]
  // The sparse stage's forward attends to the selected keys only: recall needs a dense one (before the update).
  const sparseRecall =
    plan.indexerLoss === "sparse" && first !== undefined ? attentionRecallOf(model, first) : undefined
  const grads = new Map<string, tf.Tensor>()
  let ceSum = 0
  let klSum = 0
  let recall = sparseRecall
  const loads: Array<Int32Array> = []
  microBatches.forEach((batch, m) => {
    const weight = total === 0 ? 0 : (counts[m] as number) / total
    const step = microBatchGradients(model, batch, weight, trained, options)
    accumulate(grads, step.grads)
    ceSum += (step.crossEntropy ?? 0) * weight
    klSum += (step.indexerKl ?? 0) * weight
    if (m === 0 && step.recall !== undefined) recall = step.recall
    step.expertLoad.forEach((load, i) => {
      const into = loads[i] ?? new Int32Array(load.length)
      for (let e = 0; e < load.length; e++) into[e] = (into[e] as number) + (load[e] as number)
      loads[i] = into
    })
  })
  const gradNorm = adamWStep(model.params, grads, optimizer, options.learningRate, options.adamW)
  tf.dispose([...grads.values()])
  // The warm-up freezes the whole main model, its routing biases included.
  updateGateBiases(model, loads, plan.languageModel ? (options.biasUpdateSpeed ?? 0) : 0)
  return {
    loss: plan.languageModel ? ceSum : klSum,
    ...(plan.languageModel ? { crossEntropy: ceSum } : {}),
    ...(plan.indexerLoss === "none" ? {} : { indexerKl: klSum }),
    ...(recall === undefined ? {} : { recall }),
    gradNorm,
    targetTokens: total,
    expertLoad: loads,
  }
}
