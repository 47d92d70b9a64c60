/**
 * SwiGLU feed-forward network (docs/model.md §2): the dense FFN of the first `n_dense_layers` blocks, and the
 * shape of every routed and shared expert of DeepSeekMoE (§2.5).
 *
 *   y = W2 · ( SiLU(W1 x) ⊙ W3 x )        W1, W3: [hidden, dim], W2: [dim, hidden], no biases
 *
 * x: [..., dim] -> y: [..., dim].
 */
import { linear, ShapeError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"

/** The three projection matrices of one SwiGLU network, in reference layout. */
export interface SwiGluWeights {
  /** `w1.weight` (gate_proj): [hidden, dim]. */
  readonly w1: tf.Tensor
  /** `w2.weight` (down_proj): [dim, hidden]. */
  readonly w2: tf.Tensor
  /** `w3.weight` (up_proj): [hidden, dim]. */
  readonly w3: tf.Tensor
}

const checkWeights = (w: SwiGluWeights, dim: number): void => {
  const hidden = w.w1.shape[0]
  const ok =
    w.w1.rank === 2 &&
    w.w1.shape[1] === dim &&
    w.w3.rank === 2 &&
    w.w3.shape[0] === hidden &&
    w.w3.shape[1] === dim &&
    w.w2.rank === 2 &&
    w.w2.shape[0] === dim &&
    w.w2.shape[1] === hidden
  if (!ok)
    throw new ShapeError({
      argument: "SwiGLU weights",
      expected: `w1,w3: [hidden, ${dim}], w2: [${dim}, hidden]`,
      actual: `w1 [${w.w1.shape}], w2 [${w.w2.shape}], w3 [${w.w3.shape}]`,
    })
}

/** `W2(SiLU(W1 x) ⊙ W3 x)`; x: [..., dim]. */
export const swiGlu = (x: tf.Tensor, weights: SwiGluWeights): tf.Tensor => {
  checkWeights(weights, x.shape[x.rank - 1] ?? 0)
  return tf.tidy(() => {
    const gate = linear(x, weights.w1)
    const up = linear(x, weights.w3)
    const hidden = tf.mul(tf.mul(gate, tf.sigmoid(gate)), up)
    return linear(hidden, weights.w2)
  })
}
