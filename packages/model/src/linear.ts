/**
 * Linear layer without bias, in the reference's weight layout (docs/model.md §2, §5):
 *
 *   y = x · Wᵀ        x: [..., in], W: [out, in] (PyTorch `nn.Linear` layout), y: [..., out]
 *
 * Leading dimensions are flattened into one matmul and restored afterwards.
 */
import { ShapeError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"

/** `x · Wᵀ` over the last axis of `x`. Throws ShapeError when the inner sizes differ. */
export const linear = (x: tf.Tensor, weight: tf.Tensor, name = "weight"): tf.Tensor => {
  const inFeatures = x.shape[x.rank - 1] ?? 0
  if (weight.rank !== 2 || weight.shape[1] !== inFeatures)
    throw new ShapeError({ argument: name, expected: `[out, ${inFeatures}]`, actual: `[${weight.shape.join(", ")}]` })
  const outFeatures = weight.shape[0] as number
  return tf.tidy(() => {
    const flat = x.reshape([-1, inFeatures])
    const y = tf.matMul(flat, weight, false, true)
    return y.reshape([...x.shape.slice(0, -1), outFeatures])
  })
}
