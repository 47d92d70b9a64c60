/**
 * Element loops over tensors where they live (docs/compute.md §6): on wasm, zero-copy views of the heap; on cpu, the
 * backend's own arrays; elsewhere (tfjs-node, webgl) a read and an upload, the only case with a host round trip.
 *
 *   out = f(x_1, …, x_n)     computed by `fill(views of x_1 … x_n, view of out)` in place of a tensor program
 *
 * For optimizer-style updates (AdamW over every parameter), where a fused loop over a few arrays beats ~16 tensor
 * kernels per parameter and a `dataSync` of each would copy every parameter and gradient to the host each step.
 * The output is a new float32 tensor (callers `assign` it), never an input written in place: caches keyed by a
 * tensor's data (the attention's absorbed weights) stay valid because `assign` replaces the data.
 */
import * as tf from "@tensorflow/tfjs"
import { backendIO, type NumericArray } from "./backend-io.ts"

const onBackend = (): "wasm" | "cpu" | undefined => {
  const name = tf.getBackend()
  return name === "wasm" || name === "cpu" ? name : undefined
}

/** Float32 views of `inputs` handed to `read` (no copy on wasm and cpu). Views are valid only inside `read`. */
export const readOnBackend = <A>(
  inputs: ReadonlyArray<tf.Tensor>,
  read: (views: ReadonlyArray<NumericArray>) => A,
): A => {
  const name = onBackend()
  if (name === undefined) return read(inputs.map((t) => t.dataSync() as NumericArray))
  const io = backendIO(name, tf.backend())
  return read(inputs.map((t) => io.view(t)))
}

/**
 * A new float32 tensor of `shape` whose elements `fill(views, out)` writes (every one of them), reading the
 * inputs through views. `fill` must not create tensors.
 */
export const computeOnBackend = (
  inputs: ReadonlyArray<tf.Tensor>,
  shape: ReadonlyArray<number>,
  fill: (views: ReadonlyArray<NumericArray>, out: Float32Array) => void,
): tf.Tensor => {
  const name = onBackend()
  if (name === undefined) {
    const out = new Float32Array(tf.util.sizeFromShape([...shape]))
    fill(
      inputs.map((t) => t.dataSync() as NumericArray),
      out,
    )
    return tf.tensor(out, [...shape], "float32")
  }
  const backend = tf.backend()
  const io = backendIO(name, backend)
  // Allocate first: on wasm an allocation can grow the heap and detach views taken before it.
  const info = io.alloc(shape, "float32", false)
  fill(
    inputs.map((t) => io.view(t)),
    io.view(info) as Float32Array,
  )
  return tf.engine().makeTensorFromTensorInfo(info, backend)
}
