/**
 * Linear layer without bias, in the reference's weight layout (docs/model.md §2; PyTorch `nn.Linear`):
 *
 *   y = x · Wᵀ        x: [..., in], W: [out, in], y: [..., out]
 *
 * Leading axes are flattened into one matmul and restored afterwards.
 */
import * as tf from "@tensorflow/tfjs"
import { ShapeError } from "../errors.ts"

/** `x · Wᵀ` over the last axis of `x`. Throws ShapeError (naming `name`) when W is not [out, in]. */
export const linear = (x: tf.Tensor, weight: tf.Tensor, name = "weight"): tf.Tensor => {
  const inFeatures = x.shape[x.rank - 1] ?? 0
  if (weight.rank !== 2 || weight.shape[1] !== inFeatures)
    throw new ShapeError({ argument: name, expected: `[out, ${inFeatures}]`, actual: `[${weight.shape.join(", ")}]` })
  const outFeatures = weight.shape[0] as number
  return tf.tidy(() =>
    tf.matMul(x.reshape([-1, inFeatures]), weight, false, true).reshape([...x.shape.slice(0, -1), outFeatures]),
  )
}
