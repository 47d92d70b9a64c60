/**
 * The parts of tfjs-backend-wasm 4.22's `BackendWasm` that the fast kernels use, typed structurally (the
 * package's own declarations mark some of them private), and the few heap operations built on them.
 *
 * Heap rule: a JS kernel allocates every output with `makeOutput` BEFORE taking `Float32Array` views of the heap;
 * an allocation can grow the heap, which detaches every view taken earlier.
 */
import type * as tf from "@tensorflow/tfjs"

type TypedArray = Float32Array | Int32Array | Uint8Array

interface WasmTensorData {
  readonly id: number
  readonly memoryOffset: number
  readonly shape: ReadonlyArray<number>
  readonly dtype: tf.DataType
}

/** The emscripten module inside the backend (only what the kernels call). */
interface WasmModule {
  readonly HEAPU8: Uint8Array
  readonly cwrap: (name: string, returnType: null | "number", argTypes: ReadonlyArray<"number" | "array">) => unknown
  readonly tfjs: {
    readonly registerTensor: (id: number, size: number, memoryOffset: number) => void
    readonly disposeData: (id: number) => void
  }
}

export interface WasmBackend {
  readonly wasm: WasmModule
  readonly dataIdMap: { get(dataId: object): WasmTensorData | undefined }
  dataIdNextNumber: number
  makeOutput(shape: ReadonlyArray<number>, dtype: tf.DataType): tf.TensorInfo
  typedArrayFromHeap(info: tf.TensorInfo): TypedArray
  disposeData(dataId: object, force?: boolean): boolean
}

/** The backend argument of a kernel registered for "wasm". */
export const asWasm = (backend: object): WasmBackend => backend as WasmBackend

/** A zero-copy float32 view of a tensor on the heap (valid until the next allocation). */
export const heapF32 = (backend: WasmBackend, info: tf.TensorInfo): Float32Array =>
  backend.typedArrayFromHeap(info) as Float32Array

/** Byte offset of a tensor's data in the heap. */
export const memoryOffset = (backend: WasmBackend, info: tf.TensorInfo): number => {
  const data = backend.dataIdMap.get(info.dataId)
  if (data === undefined) throw new Error("wasm kernel: tensor data is not on this backend")
  return data.memoryOffset
}

/** The backend's own tensor id of a TensorInfo (what exported C kernels take). */
export const tensorId = (backend: WasmBackend, info: tf.TensorInfo): number => {
  const data = backend.dataIdMap.get(info.dataId)
  if (data === undefined) throw new Error("wasm kernel: tensor data is not on this backend")
  return data.id
}

/**
 * Runs `fn` with C-side tensor ids registered for sub-ranges of the heap (float32 element counts at byte
 * offsets), then unregisters them. Fresh ids every call: XNNPACK caches packed weights by tensor id and drops
 * them when the id is disposed, so an id is never reused for different data. The memory itself is not freed.
 */
export const withHeapViews = <A>(
  backend: WasmBackend,
  views: ReadonlyArray<{ readonly byteOffset: number; readonly size: number }>,
  fn: (ids: ReadonlyArray<number>) => A,
): A => {
  const ids = views.map(({ byteOffset, size }) => {
    const id = backend.dataIdNextNumber++
    backend.wasm.tfjs.registerTensor(id, size, byteOffset)
    return id
  })
  try {
    return fn(ids)
  } finally {
    for (const id of ids) backend.wasm.tfjs.disposeData(id)
  }
}

/** Frees intermediate outputs of nested kernel calls. */
export const disposeInfos = (backend: WasmBackend, infos: ReadonlyArray<tf.TensorInfo>): void => {
  for (const info of infos) backend.disposeData(info.dataId)
}
