/**
 * Language-modelling loss over full sequences (next-token cross-entropy on the positions that carry a target),
 * plus DeepSeek-V3's sequence-wise balance loss (docs/model.md §4):
 *
 *   L = Σ_{(b,t): y_bt ≠ −1} −log softmax(logits_bt)[y_bt] / #targets  +  α Σ_MoE-layers L_bal
 *
 * Targets are the inputs shifted by one (built by the data pipeline); −1 masks a position (prompt tokens in SFT,
 * padding). The cross-entropy uses a one-hot product instead of a gather, so its gradient needs no scatter kernel.
 */
import { ShapeError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { disposeForward, type ForwardResult, forward, type Model } from "../transformer.ts"

/** A batch of equal-length rows: input ids and next-token targets (−1 = no loss), both [B·T] row-major. */
export interface TokenBatch {
  readonly batch: number
  readonly length: number
  readonly inputs: Int32Array
  readonly targets: Int32Array
  /** Real tokens per row (right padding after); default: all. */
  readonly validLengths?: ReadonlyArray<number>
}

/** Mean cross-entropy of logits [N, V] against targets [N] (−1 ignored); 0 when no position has a target. */
export const crossEntropy = (logits: tf.Tensor2D, targets: Int32Array): tf.Scalar => {
  const [n, vocab] = logits.shape
  if (targets.length !== n)
    throw new ShapeError({ argument: "targets", expected: `${n} ids`, actual: String(targets.length) })
  let count = 0
  for (const t of targets) if (t >= 0) count++
  return tf.tidy(() => {
    const mask = tf.tensor1d(Float32Array.from(targets, (t) => (t >= 0 ? 1 : 0)))
    const oneHot = tf.oneHot(
      tf.tensor1d(
        Int32Array.from(targets, (t) => Math.max(t, 0)),
        "int32",
      ),
      vocab,
    )
    // logSoftmax has its own gradient (dy − softmax·Σdy); logSumExp would differentiate through max (slow Equal).
    const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), oneHot), -1))
    return tf.div(tf.sum(tf.mul(nll, mask)), Math.max(1, count)) as tf.Scalar
  })
}

export interface LossOptions {
  /** Sequence-wise balance-loss weight α (DeepSeek-V3: 1e-4); 0 or absent = off. */
  readonly balanceAlpha?: number
  /** Keep Routing: forced expert ids per MoE layer, [B·T·K] each. */
  readonly forcedExperts?: ReadonlyArray<Int32Array>
  /** "topk" (DSA) or "dense" attention. */
  readonly selection?: "topk" | "dense"
}

export interface LossResult {
  /** Total loss (on the tape when called inside a gradient). */
  readonly loss: tf.Scalar
  /** The cross-entropy part, as a number. */
  readonly crossEntropy: number
  readonly routing: ReadonlyArray<Int32Array>
  readonly expertLoad: ReadonlyArray<Int32Array>
}

/** Forward over the whole batch and the loss. The caller disposes `loss`. */
export const languageModelLoss = (model: Model, batch: TokenBatch, options: LossOptions = {}): LossResult => {
  const tokens = tf.tensor2d(batch.inputs, [batch.batch, batch.length], "int32")
  let result: ForwardResult | undefined
  try {
    result = forward(model, tokens, {
      logits: "all",
      ...(batch.validLengths === undefined ? {} : { validLengths: batch.validLengths }),
      ...(options.balanceAlpha === undefined || options.balanceAlpha === 0
        ? {}
        : { balanceAlpha: options.balanceAlpha }),
      ...(options.forcedExperts === undefined ? {} : { forcedExperts: options.forcedExperts }),
      ...(options.selection === undefined ? {} : { selection: options.selection }),
    })
    const { logits, balanceLoss } = result
    let value = 0
    const loss = tf.tidy(() => {
      const ce = crossEntropy(logits.reshape([batch.batch * batch.length, -1]) as tf.Tensor2D, batch.targets)
      value = ce.dataSync()[0] as number
      return balanceLoss === undefined ? ce : (tf.add(ce, balanceLoss) as tf.Scalar)
    })
    return { loss, crossEntropy: value, routing: result.routing, expertLoad: result.expertLoad }
  } finally {
    tokens.dispose()
    if (result !== undefined) disposeForward(result)
  }
}
