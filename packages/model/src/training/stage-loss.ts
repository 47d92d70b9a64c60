/**
 * The loss of one micro-batch in a training stage (stages.ts; docs/attention.md §9, §12):
 *
 *   sft, dense       L = L_LM                                      (loss.ts, top-k or dense attention)
 *   indexer-warmup   L = mean_l L_I^dense(l)                       no L_LM: the logits are not scored at all
 *   sparse           L = L_LM + λ · mean_l L_I^sparse(l)           λ = `indexerLossWeight` (default 1)
 *
 * L_I(l) is layer l's indexer KL (@ds/attention losses.ts) averaged over the valid query rows, so λ = 1 weighs one
 * row's KL like one target token's cross-entropy. The two parts meet only in the sum: the indexer reads detached
 * inputs and its top-k is not differentiable (L_LM never reaches the indexer), and the KL's target is detached
 * (L_I never reaches the main model), so one gradient of L over all trained parameters is the two separate ones.
 *
 * Recall@k (@ds/attention recall.ts) is measured at the query rows that carry a loss target (the answer tokens of
 * an SFT example; every token of plain text) and averaged over layers, always against DENSE attention: in the
 * warm-up from the training forward itself, in the other stages from a separate dense forward without gradient
 * (`attentionRecallOf`), since a top-k forward's attention covers only the selected keys.
 */
import { attentionRecall, denseIndexerLoss, type IndexerTrainingOutputs, sparseIndexerLoss } from "@ds/attention"
import * as tf from "@tensorflow/tfjs"
import { disposeForward, type ForwardOptions, type ForwardResult, forward, type Model } from "../transformer.ts"
import { crossEntropy, type LossOptions, languageModelLoss, type TokenBatch } from "./loss.ts"
import { stagePlan, type TrainingStage } from "./stages.ts"

export interface StageLossOptions extends LossOptions {
  /** Weight λ of the indexer KL in the sparse stage. Default 1. */
  readonly indexerLossWeight?: number
}

export interface StageLossResult {
  /** The stage's total loss (on the tape when called inside a gradient); the caller disposes it. */
  readonly loss: tf.Scalar
  /** L_LM's cross-entropy part (absent in the warm-up). */
  readonly crossEntropy?: number
  /** mean_l L_I(l) (warm-up and sparse stage). */
  readonly indexerKl?: number
  /** Recall@k of the training forward (warm-up only; see the file comment). */
  readonly recall?: number
  readonly expertLoad: ReadonlyArray<Int32Array>
}

/** Weight 1 for the query rows that carry a target (all valid rows when none does), 0 elsewhere: [B·T]. */
export const recallRows = (batch: TokenBatch): Float32Array => {
  const scored = Float32Array.from(batch.targets, (t) => (t >= 0 ? 1 : 0))
  if (scored.some((w) => w > 0)) return scored
  return Float32Array.from({ length: batch.batch * batch.length }, (_, i) =>
    i % batch.length < (batch.validLengths?.[Math.floor(i / batch.length)] ?? batch.length) ? 1 : 0,
  )
}

const runForward = (model: Model, batch: TokenBatch, options: ForwardOptions): ForwardResult => {
  const tokens = tf.tensor2d(batch.inputs, [batch.batch, batch.length], "int32")
  try {
    return forward(model, tokens, {
      ...options,
      ...(batch.validLengths === undefined ? {} : { validLengths: batch.validLengths }),
    })
  } finally {
    tokens.dispose()
  }
}

const layerRecall = (result: ForwardResult, rows: Float32Array): number => {
  const layers = result.indexer ?? []
  const values = layers.map((o, l) => attentionRecall(o.target, result.layers?.[l]?.indices as tf.Tensor3D, rows))
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)
}

/** Recall@k of the model's indexers against its dense attention on `batch` (no gradient; see the file comment). */
export const attentionRecallOf = (model: Model, batch: TokenBatch): number => {
  const result = runForward(model, batch, { logits: "last", selection: "dense", indexerTraining: true, capture: true })
  try {
    return layerRecall(result, recallRows(batch))
  } finally {
    disposeForward(result)
  }
}

/** mean over layers of the dense or sparse indexer KL (mean over valid rows). */
const indexerKl = (
  outputs: ReadonlyArray<IndexerTrainingOutputs>,
  layers: ForwardResult["layers"],
  kind: "dense" | "sparse",
  batch: TokenBatch,
): tf.Scalar =>
  tf.tidy(() => {
    const options = {
      reduction: "mean" as const,
      ...(batch.validLengths === undefined ? {} : { validLengths: batch.validLengths }),
    }
    const perLayer = outputs.map((o, l) =>
      kind === "dense"
        ? denseIndexerLoss(o.target, o.scores, o.causal, options)
        : sparseIndexerLoss(o.target, o.scores, layers?.[l]?.indices as tf.Tensor3D, options),
    )
    return tf.div(tf.addN(perLayer), Math.max(1, perLayer.length)) as tf.Scalar
  })

const scalarValue = (t: tf.Scalar): number => t.dataSync()[0] as number

/** The stage's loss on one micro-batch (see the file comment). */
export const stageLoss = (
  model: Model,
  batch: TokenBatch,
  stage: TrainingStage,
  options: StageLossOptions = {},
): StageLossResult => {
  const plan = stagePlan(stage)
  if (plan.indexerLoss === "none") {
    // "sft" keeps a caller's `selection` (top-k by default), as trainStep did before stages existed.
    const selection = stage === "sft" ? (options.selection ?? plan.selection) : plan.selection
    const lm = languageModelLoss(model, batch, { ...options, selection })
    return { loss: lm.loss, crossEntropy: lm.crossEntropy, expertLoad: lm.expertLoad }
  }
  const languageModel = plan.languageModel
  const result = runForward(model, batch, {
    // The warm-up scores no logits: the last position's only, the cheapest the forward computes.
    logits: languageModel ? "all" : "last",
    selection: plan.selection,
    indexerTraining: true,
    capture: true,
    ...(options.forcedExperts === undefined ? {} : { forcedExperts: options.forcedExperts }),
    ...(languageModel && options.balanceAlpha !== undefined && options.balanceAlpha !== 0
      ? { balanceAlpha: options.balanceAlpha }
      : {}),
  })
  try {
    const kl = indexerKl(result.indexer ?? [], result.layers, plan.indexerLoss, batch)
    const klValue = scalarValue(kl)
    if (!languageModel) {
      const recall = layerRecall(result, recallRows(batch))
      return { loss: kl, indexerKl: klValue, recall, expertLoad: result.expertLoad }
    }
    let ce = 0
    const loss = tf.tidy(() => {
      const lm = crossEntropy(result.logits.reshape([batch.batch * batch.length, -1]) as tf.Tensor2D, batch.targets)
      ce = scalarValue(lm)
      const withBalance = result.balanceLoss === undefined ? lm : tf.add(lm, result.balanceLoss)
      return tf.add(withBalance, tf.mul(kl, options.indexerLossWeight ?? 1)) as tf.Scalar
    })
    kl.dispose()
    return { loss, crossEntropy: ce, indexerKl: klValue, expertLoad: result.expertLoad }
  } finally {
    disposeForward(result)
  }
}
