/**
 * Shape checks for the entry points of numeric functions: each throws `ShapeError` naming the argument, so a caller
 * sees which tensor was wrong, what was expected and what came. `null` in an expected shape accepts any size on
 * that axis.
 */
import type * as tf from "@tensorflow/tfjs"
import { ShapeError } from "../errors.ts"

const show = (shape: ReadonlyArray<number | null>): string => `[${shape.map((d) => (d === null ? "?" : d)).join(", ")}]`

/** Throws ShapeError unless `tensor` has exactly `expected` (null = any size on that axis). */
export const expectShape = (argument: string, tensor: tf.Tensor, expected: ReadonlyArray<number | null>): void => {
  const ok = tensor.rank === expected.length && expected.every((d, i) => d === null || d === tensor.shape[i])
  if (!ok) throw new ShapeError({ argument, expected: show(expected), actual: show(tensor.shape) })
}

/** Throws ShapeError unless `tensor` has rank `rank`; returns its shape. */
export const expectRank = (argument: string, tensor: tf.Tensor, rank: number): ReadonlyArray<number> => {
  if (tensor.rank !== rank) throw new ShapeError({ argument, expected: `rank ${rank}`, actual: show(tensor.shape) })
  return tensor.shape
}

/** Throws ShapeError unless `tensor` has dtype `dtype`. */
export const expectDtype = (argument: string, tensor: tf.Tensor, dtype: tf.DataType): void => {
  if (tensor.dtype !== dtype)
    throw new ShapeError({ argument, expected: `dtype ${dtype}`, actual: `dtype ${tensor.dtype}` })
}

/** The size of axis `axis` (asserted present). */
export const dimOf = (tensor: tf.Tensor, axis: number): number => tensor.shape[axis] as number
