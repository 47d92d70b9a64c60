/**
 * Gradients tfjs 4.22 lacks, as composites of tfjs ops (so they run on every backend, tensorflow included).
 *
 * - Comparison and logical ops (Equal, NotEqual, Greater, Less, LessEqual, LogicalAnd/Or/Xor/Not, All, Any,
 *   SearchSorted): piecewise constant in their inputs, so ∂/∂input = 0 (TensorFlow: NotDifferentiable). Without it
 *   `tf.where(tf.greater(x, 0), ...)` with x on the tape throws.
 * - TopK: values[r, j] = x[r, indices[r, j]] along the last axis, so
 *       dx[r, indices[r, j]] = dvalues[r, j],  0 elsewhere;   indices get no gradient.
 *   Built as one UnsortedSegmentSum over flat positions (indices of a row are distinct, so the sum is a scatter).
 * - GatherNd: out[i] = params[indices[i]] (a slice per index row), so dparams = scatterND(indices, dy, params.shape)
 *   (scatterND sums duplicate indices, as the gradient must). ScatterNd: out = scatterND(indices, updates, shape),
 *   so dupdates = gatherND(dy, indices). Indices get no gradient.
 * - BatchMatMul: tfjs's gradient forgets broadcast batch dims (a [2,3,4] @ b [4,5] throws on b's gradient); the
 *   stock gradient is kept and its result summed over the broadcast axes, the rule tfjs uses for Add.
 *
 * Gradients are global in tfjs (not per backend); each is registered once and only where tfjs has none, except
 * the BatchMatMul wrapper, which calls the stock gradient first.
 */
import * as tf from "@tensorflow/tfjs"

/** Kernels whose gradient is zero, with the names of their tensor inputs. */
const zeroGradientInputs: Readonly<Record<string, ReadonlyArray<string>>> = {
  Equal: ["a", "b"],
  NotEqual: ["a", "b"],
  Greater: ["a", "b"],
  Less: ["a", "b"],
  LessEqual: ["a", "b"],
  LogicalAnd: ["a", "b"],
  LogicalOr: ["a", "b"],
  LogicalXor: ["a", "b"],
  LogicalNot: ["x"],
  All: ["x"],
  Any: ["x"],
  SearchSorted: ["sortedSequence", "values"],
}

const zeroGradient = (kernelName: string, inputs: ReadonlyArray<string>): tf.GradConfig => ({
  kernelName,
  inputsToSave: [...inputs],
  gradFunc: (_dy, saved) =>
    Object.fromEntries(inputs.map((name, i) => [name, () => tf.zeros((saved[i] as tf.Tensor).shape, "float32")])),
})

/** dx of TopK: dvalues scattered to the selected positions of each row of x. */
export const topKGradient = (xShape: ReadonlyArray<number>, dValues: tf.Tensor, indices: tf.Tensor): tf.Tensor =>
  tf.tidy(() => {
    const n = xShape[xShape.length - 1] as number
    const k = indices.shape[indices.shape.length - 1] as number
    const rows = tf.util.sizeFromShape([...xShape]) / Math.max(n, 1)
    const rowStarts = tf.reshape(tf.range(0, rows * n, n, "int32"), [rows, 1]) // [rows, 1]
    const positions: tf.Tensor1D = tf.reshape(tf.add(tf.reshape(indices, [rows, k]), rowStarts), [rows * k]) // [rows·k]
    const flat = tf.unsortedSegmentSum(tf.reshape(dValues, [rows * k]), positions, rows * n) // [rows·n]
    return tf.reshape(flat, [...xShape])
  })

const topKGradConfig: tf.GradConfig = {
  kernelName: "TopK",
  inputsToSave: ["x"],
  outputsToSave: [false, true],
  gradFunc: (dy, saved) => {
    const [x, indices] = saved as [tf.Tensor, tf.Tensor]
    const dValues = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy
    return { x: () => topKGradient(x.shape, dValues, indices) }
  },
}

const gatherNdGradConfig: tf.GradConfig = {
  kernelName: "GatherNd",
  inputsToSave: ["params", "indices"],
  gradFunc: (dy, saved) => {
    const [params, indices] = saved as [tf.Tensor, tf.Tensor]
    return { params: () => tf.scatterND(indices, dy as tf.Tensor, params.shape) }
  },
}

const scatterNdGradConfig: tf.GradConfig = {
  kernelName: "ScatterNd",
  inputsToSave: ["indices"],
  gradFunc: (dy, saved) => {
    const [indices] = saved as [tf.Tensor]
    return { updates: () => tf.gatherND(dy as tf.Tensor, indices) }
  },
}

/** Sums a gradient over the axes along which `shape` was broadcast, then gives it `shape`. */
const reduceToShape = (gradient: tf.Tensor, shape: ReadonlyArray<number>): tf.Tensor => {
  if (tf.util.arraysEqual(gradient.shape, [...shape])) return gradient
  const axes = tf.backend_util.getReductionAxes([...shape], gradient.shape)
  return tf.reshape(axes.length > 0 ? tf.sum(gradient, axes) : gradient, [...shape])
}

const broadcastAware = new WeakSet<tf.GradConfig>()

const broadcastMatMulGradient = (stock: tf.GradConfig): tf.GradConfig => {
  const config: tf.GradConfig = {
    kernelName: "BatchMatMul",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved as [tf.Tensor, tf.Tensor]
      const grads = stock.gradFunc(dy, saved, attrs)
      const da = grads.a
      const db = grads.b
      if (da === undefined || db === undefined) return grads
      return { a: () => reduceToShape(da(), a.shape), b: () => reduceToShape(db(), b.shape) }
    },
  }
  broadcastAware.add(config)
  return config
}

/** Registers the missing gradients (idempotent); returns the kernel names whose gradient this added or wrapped. */
export const registerMissingGradients = (): ReadonlyArray<string> => {
  const added: Array<string> = []
  for (const [kernelName, inputs] of Object.entries(zeroGradientInputs)) {
    if (tf.getGradient(kernelName) === undefined) tf.registerGradient(zeroGradient(kernelName, inputs))
    added.push(kernelName)
  }
  for (const config of [topKGradConfig, gatherNdGradConfig, scatterNdGradConfig]) {
    if (tf.getGradient(config.kernelName) === undefined) tf.registerGradient(config)
    added.push(config.kernelName)
  }
  const matMul = tf.getGradient("BatchMatMul")
  if (matMul !== undefined && !broadcastAware.has(matMul)) tf.registerGradient(broadcastMatMulGradient(matMul))
  added.push("BatchMatMul")
  return added
}
