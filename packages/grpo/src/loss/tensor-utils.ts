/**
 * Small helpers for the loss: masked means and a tensor scope for non-tensor results. (Shape checks and
 * `stopGradient`, the detach of the loss, come from `@ds/core`.)
 */

import * as tf from "@tensorflow/tfjs"

/** Σ_t x[n, t] · m[n, t] / max(1, Σ_t m[n, t]): masked mean over the last axis. x, m: [N, T] -> [N] */
export const maskedRowMean = (x: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor1D =>
  tf.tidy(() => tf.div(tf.sum(tf.mul(x, mask), 1), tf.maximum(tf.sum(mask, 1), 1)))

/** Σ x·m / max(1, Σ m): masked mean over every element. -> scalar */
export const maskedMean = (x: tf.Tensor, mask: tf.Tensor): tf.Scalar =>
  tf.tidy(() => tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tf.sum(mask), 1)))

/**
 * Runs `fn` in a tensor scope like `tf.tidy`, but for any result type: tensors reachable from the result (in plain
 * objects and arrays) are kept, every other tensor made inside is disposed.
 */
export const scoped = <T>(fn: () => T): T => {
  const engine = tf.engine()
  engine.startScope()
  try {
    const result = fn()
    engine.endScope(result as tf.TensorContainer)
    return result
  } catch (error) {
    engine.endScope()
    throw error
  }
}
