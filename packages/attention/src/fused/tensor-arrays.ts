/**
 * Zero-copy typed-array access to tensors for the native kernels (docs/compute.md §3: heap views).
 *
 * - wasm: inputs are views of the WebAssembly heap (`typedArrayFromHeap`), outputs are allocated on the heap with
 *   `makeOutput` FIRST (an allocation can grow the heap and detach earlier views), then viewed and written in place.
 * - cpu: inputs are the backend's own arrays (`dataSync` returns them without a copy), outputs are fresh arrays
 *   handed to `tf.tensor` (kept, not copied).
 * - any other backend (tensorflow): no access; the caller declines and the plain-tfjs reference runs.
 */
import * as tf from "@tensorflow/tfjs"

export type KernelArray = Float32Array | Int32Array

/** An output of a native call: its shape and dtype. */
export interface OutputSpec {
  readonly shape: ReadonlyArray<number>
  readonly dtype: "float32" | "int32"
}

interface WasmBackendLike {
  makeOutput(shape: ReadonlyArray<number>, dtype: tf.DataType): tf.TensorInfo
  typedArrayFromHeap(info: tf.TensorInfo): KernelArray
  disposeData(dataId: object, force?: boolean): boolean
}

const size = (shape: ReadonlyArray<number>) => shape.reduce((p, d) => p * d, 1)

/**
 * The tensor's values as a typed array: a heap view on wasm (valid until the next tensor allocation: use it at
 * once), the backend's own array on cpu, a copy elsewhere.
 */
export const hostArray = (tensor: tf.Tensor): KernelArray =>
  tf.getBackend() === "wasm"
    ? (tf.backend() as unknown as WasmBackendLike).typedArrayFromHeap(tensor)
    : (tensor.dataSync() as KernelArray)

/** Whether the current backend lets the native kernels read tensors in place. */
export const arraysAvailable = (): boolean => {
  const name = tf.getBackend()
  return name === "wasm" || name === "cpu"
}

const onWasm = (
  inputs: ReadonlyArray<tf.Tensor>,
  outputs: ReadonlyArray<OutputSpec>,
  run: (inputs: Array<KernelArray>, outputs: Array<KernelArray>) => void,
): Array<tf.Tensor> => {
  const backend = tf.backend() as unknown as WasmBackendLike
  const infos = outputs.map((o) => backend.makeOutput([...o.shape], o.dtype))
  try {
    run(
      inputs.map((t) => backend.typedArrayFromHeap(t)),
      infos.map((info) => backend.typedArrayFromHeap(info)),
    )
  } catch (error) {
    for (const info of infos) backend.disposeData(info.dataId, true)
    throw error
  }
  return infos.map((info) => tf.engine().makeTensorFromTensorInfo(info, tf.backend()))
}

const onCpu = (
  inputs: ReadonlyArray<tf.Tensor>,
  outputs: ReadonlyArray<OutputSpec>,
  run: (inputs: Array<KernelArray>, outputs: Array<KernelArray>) => void,
): Array<tf.Tensor> => {
  const arrays = outputs.map((o) =>
    o.dtype === "float32" ? new Float32Array(size(o.shape)) : new Int32Array(size(o.shape)),
  )
  run(
    inputs.map((t) => t.dataSync() as KernelArray),
    arrays,
  )
  return arrays.map((values, i) =>
    tf.tensor(values, [...(outputs[i] as OutputSpec).shape], (outputs[i] as OutputSpec).dtype),
  )
}

/**
 * Runs `run` over array views of the input tensors and of freshly allocated outputs, and returns the outputs as
 * tensors (tracked by the enclosing tf.tidy). Undefined when the backend gives no array access.
 * Inputs must be float32 or int32.
 */
export const withTensorArrays = (
  inputs: ReadonlyArray<tf.Tensor>,
  outputs: ReadonlyArray<OutputSpec>,
  run: (inputs: Array<KernelArray>, outputs: Array<KernelArray>) => void,
): Array<tf.Tensor> | undefined => {
  const name = tf.getBackend()
  if (name === "wasm") return onWasm(inputs, outputs, run)
  if (name === "cpu") return onCpu(inputs, outputs, run)
  return undefined
}
