/**
 * Typed-array access to tensor data inside a kernel, the same way on the wasm and cpu backends, so a kernel
 * written once over arrays runs on both.
 *
 * Order rule (wasm): allocate every output with `alloc` first, then take views; an allocation can grow the
 * wasm heap and detach views taken before it. On cpu a view is the tensor's own array (no copy either).
 */
import type * as tf from "@tensorflow/tfjs"
import type { FastBackendName } from "./registry.ts"
import { asWasm } from "./wasm-internals.ts"

export type NumericArray = Float32Array | Int32Array | Uint8Array

export interface BackendIO {
  /** A new output tensor, zero-filled unless `zeroed` is false (then the kernel must write every element). */
  readonly alloc: (shape: ReadonlyArray<number>, dtype: tf.DataType, zeroed?: boolean) => tf.TensorInfo
  /** The tensor's data as a typed array (float32 -> Float32Array, int32 -> Int32Array, bool -> Uint8Array). */
  readonly view: (info: tf.TensorInfo) => NumericArray
}

interface CpuBackend {
  readonly data: { get(dataId: object): { values?: unknown } | undefined }
  makeTensorInfo(shape: ReadonlyArray<number>, dtype: tf.DataType, values?: NumericArray): tf.TensorInfo
}

const size = (shape: ReadonlyArray<number>) => shape.reduce((p, d) => p * d, 1)

const newArray = (dtype: tf.DataType, length: number): NumericArray => {
  if (dtype === "float32") return new Float32Array(length)
  if (dtype === "int32") return new Int32Array(length)
  if (dtype === "bool") return new Uint8Array(length)
  throw new Error(`fast kernels handle float32, int32 and bool tensors, not ${dtype}`)
}

const wasmIO = (backend: object): BackendIO => {
  const wasm = asWasm(backend)
  return {
    alloc: (shape, dtype, zeroed = true) => {
      const out = wasm.makeOutput(shape, dtype)
      if (zeroed && size(shape) > 0) wasm.typedArrayFromHeap(out).fill(0)
      return out
    },
    view: (info) => wasm.typedArrayFromHeap(info),
  }
}

const cpuIO = (backend: object): BackendIO => {
  const cpu = backend as CpuBackend
  return {
    alloc: (shape, dtype) => cpu.makeTensorInfo([...shape], dtype, newArray(dtype, size(shape))),
    view: (info) => {
      const values = cpu.data.get(info.dataId)?.values
      if (!(values instanceof Float32Array || values instanceof Int32Array || values instanceof Uint8Array)) {
        throw new Error(`fast kernels handle float32, int32 and bool tensors, not ${info.dtype}`)
      }
      return values
    },
  }
}

/** Array access for a kernel running on `backendName`. */
export const backendIO = (backendName: FastBackendName, backend: object): BackendIO =>
  backendName === "wasm" ? wasmIO(backend) : cpuIO(backend)
