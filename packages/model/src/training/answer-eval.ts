/**
 * Held-out measures of a model on supervised examples, in one forward per chunk (docs/attention.md §12):
 *
 *   answer accuracy   share of examples whose every completion token is the argmax of the logits at its position
 *                     (teacher forcing: for a one-token answer, exactly greedy decoding's accuracy), with top-k
 *                     (DSA) or dense attention
 *   recall@k          stage-loss.ts `attentionRecallOf`: the share of the dense attention mass inside the indexer's
 *                     top-k at the rows that carry a target (the answer rows), weighted by their count
 *
 * Examples are taken `chunk` at a time (rows padded to the chunk's longest, at most `maxLength`).
 */
import * as tf from "@tensorflow/tfjs"
import { disposeForward, forward, type Model } from "../transformer.ts"
import { paddedLength, type SupervisedExample, toTokenBatch } from "./batches.ts"
import type { TokenBatch } from "./loss.ts"
import { attentionRecallOf, recallRows } from "./stage-loss.ts"

export interface AnswerEvalOptions {
  /** Longest row in tokens. */
  readonly maxLength: number
  /** Examples per forward. Default 16. */
  readonly chunk?: number
}

const chunksOf = (examples: ReadonlyArray<SupervisedExample>, options: AnswerEvalOptions): Array<TokenBatch> => {
  const size = Math.max(1, options.chunk ?? 16)
  const batches: Array<TokenBatch> = []
  for (let i = 0; i < examples.length; i += size) {
    const part = examples.slice(i, i + size)
    batches.push(toTokenBatch(part, paddedLength(part, options.maxLength)))
  }
  return batches
}

/** Examples of `batch` whose every target is the argmax at its position. */
const correctRows = (model: Model, batch: TokenBatch, selection: "topk" | "dense"): number => {
  const tokens = tf.tensor2d(batch.inputs, [batch.batch, batch.length], "int32")
  const result = forward(model, tokens, {
    logits: "all",
    selection,
    ...(batch.validLengths === undefined ? {} : { validLengths: batch.validLengths }),
  })
  tokens.dispose()
  const predicted = tf.tidy(() => tf.argMax(result.logits, -1).dataSync())
  disposeForward(result)
  let correct = 0
  for (let b = 0; b < batch.batch; b++) {
    let right = true
    for (let t = 0; t < batch.length; t++) {
      const target = batch.targets[b * batch.length + t] as number
      if (target >= 0 && predicted[b * batch.length + t] !== target) right = false
    }
    if (right) correct++
  }
  return correct
}

/** Answer accuracy with `selection` attention (see the file comment); NaN for no examples. */
export const answerAccuracy = (
  model: Model,
  examples: ReadonlyArray<SupervisedExample>,
  selection: "topk" | "dense",
  options: AnswerEvalOptions,
): number => {
  if (examples.length === 0) return Number.NaN
  const correct = chunksOf(examples, options).reduce((n, batch) => n + correctRows(model, batch, selection), 0)
  return correct / examples.length
}

/** Recall@k at the answer rows (see the file comment); NaN for no examples. */
export const answerRecall = (
  model: Model,
  examples: ReadonlyArray<SupervisedExample>,
  options: AnswerEvalOptions,
): number => {
  let total = 0
  let rows = 0
  for (const batch of chunksOf(examples, options)) {
    const weight = recallRows(batch).reduce((a, w) => a + w, 0)
    total += attentionRecallOf(model, batch) * weight
    rows += weight
  }
  return rows > 0 ? total / rows : Number.NaN
}
