/**
 * Random tensors drawn from an `Rng` on the host, then uploaded.
 *
 *   randomNormalTensor(rng, shape, std, mean)   x ~ N(mean, std²)      (Box–Muller, see rng.ts)
 *   randomUniformTensor(rng, shape, lo, hi)     x ~ U[lo, hi)
 *
 * tfjs's own `tf.randomNormal` / `tf.randomUniform` use a different generator per backend (seedrandom on cpu and
 * wasm, TensorFlow's on tfjs-node), so the same seed initialises a model differently on each. These draw the
 * values with Philox on the host, so initialisation is identical on every backend; the cost is one host → device
 * copy, paid once per parameter.
 */
import * as tf from "@tensorflow/tfjs"
import { InputError, ShapeError } from "../errors.ts"
import type { Rng } from "./rng.ts"

const checkedSize = (shape: ReadonlyArray<number>): number => {
  let size = 1
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new ShapeError({
        argument: "shape",
        expected: "non-negative integer dimensions",
        actual: `[${shape.join(", ")}]`,
      })
    }
    size *= dim
  }
  return size
}

/** The largest float32 strictly below `x` (for x > 0 or x <= 0 alike). */
const float32Below = (x: number): number => {
  const bits = new Float32Array([x])
  const view = new Int32Array(bits.buffer)
  if (x === 0) return -(2 ** -149)
  view[0] = (view[0] as number) + (x > 0 ? -1 : 1)
  return bits[0] as number
}

/** A float32 tensor of `shape` with entries from N(mean, std²). */
export const randomNormalTensor = (rng: Rng, shape: ReadonlyArray<number>, std = 1, mean = 0): tf.Tensor => {
  const size = checkedSize(shape)
  return tf.tensor(rng.normal(size, mean, std), [...shape], "float32")
}

/** A float32 tensor of `shape` with entries uniform on [lo, hi). */
export const randomUniformTensor = (rng: Rng, shape: ReadonlyArray<number>, lo = 0, hi = 1): tf.Tensor => {
  const size = checkedSize(shape)
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new InputError({
      source: "randomUniformTensor(lo, hi)",
      reason: `expected finite lo < hi, got lo=${lo}, hi=${hi}`,
    })
  }
  const values = rng.uniform(size)
  const top = float32Below(hi)
  for (let i = 0; i < size; i++) {
    const value = Math.fround(lo + (hi - lo) * (values[i] as number))
    values[i] = value < hi ? value : top
  }
  return tf.tensor(values, [...shape], "float32")
}
