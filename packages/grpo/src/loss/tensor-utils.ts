/**
 * Small helpers for the loss: shape checks that throw `ShapeError`, and `detach`, which copies a tensor's values
 * into a fresh tensor that no gradient flows through (tfjs has no stop-gradient op; the copy is not a kernel, so the
 * tape does not see it). Detaching matters for 0/1 gates built with comparisons, which have no gradient in tfjs.
 */

import { ShapeError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"

/** A copy of `x` that is a leaf for autodiff. Reads the values back synchronously. */
export const detach = <T extends tf.Tensor>(x: T): T => tf.tensor(x.dataSync(), x.shape, x.dtype) as T

const describe = (shape: ReadonlyArray<number>) => `[${shape.join(", ")}]`

/** Throws `ShapeError` unless `x` has exactly `shape`. */
export const expectShape = (argument: string, x: tf.Tensor, shape: ReadonlyArray<number>): void => {
  if (x.rank !== shape.length || x.shape.some((d, i) => d !== shape[i]))
    throw new ShapeError({ argument, expected: describe(shape), actual: describe(x.shape) })
}

/** Throws `ShapeError` unless `x` has rank `rank`; returns its shape. */
export const expectRank = (argument: string, x: tf.Tensor, rank: number): ReadonlyArray<number> => {
  if (x.rank !== rank) throw new ShapeError({ argument, expected: `rank ${rank}`, actual: describe(x.shape) })
  return x.shape
}

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
