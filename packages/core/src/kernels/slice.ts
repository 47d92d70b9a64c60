/**
 * Slice and SplitV by copies of contiguous runs inside the wasm heap.
 *
 *   out[i_0, …, i_{r-1}] = x[begin_0 + i_0, …, begin_{r-1} + i_{r-1}],   0 <= i_j < size_j
 *
 * Let k be the first axis after which every axis is taken whole (size_j = shape_j for j > k). Then for each index
 * (i_0, …, i_{k-1}) of the outer axes, the elements out[i_0, …, i_{k-1}, :, …] are one contiguous run of
 * size_k · stride_k elements in x, starting at Σ_j (begin_j + i_j) · stride_j: one `copyWithin` on a view of the
 * whole heap (both tensors live there), with the source offset advanced like an odometer.
 *
 * Stock tfjs-backend-wasm 4.22 reads the whole of x to the host first (`readSync`, a copy), and above rank 4 goes
 * element by element through `TensorBuffer.get`; its SplitV calls that Slice once per piece. These are reached from
 * the gradients of concat and split in every training step. Strings (and any dtype but float32, int32, bool) go to
 * the stock kernels.
 */
import * as tf from "@tensorflow/tfjs"
import { stockKernel } from "./registry.ts"
import { asWasm, memoryOffset, type WasmBackend } from "./wasm-internals.ts"

/** Below this many elements per run a plain loop beats `copyWithin`. */
const copyLoopLimit = 16

const elementBytes = (dtype: tf.DataType): 1 | 4 | undefined =>
  dtype === "float32" || dtype === "int32" ? 4 : dtype === "bool" ? 1 : undefined

const stock = (name: "Slice" | "SplitV", args: Parameters<tf.KernelFunc>[0]) => {
  const config = stockKernel(name, "wasm")
  if (config === undefined) throw new Error(`tfjs-backend-wasm registers no ${name} kernel`)
  return config.kernelFunc(args)
}

/** Copies the slice (begin, size) of x (shape xShape, at element xBase of heap) to element outBase of heap. */
export const copySlice = (
  heap: Int32Array | Uint8Array,
  xBase: number,
  xShape: ReadonlyArray<number>,
  begin: ReadonlyArray<number>,
  size: ReadonlyArray<number>,
  outBase: number,
): void => {
  const rank = xShape.length
  if (size.some((d) => d === 0)) return
  if (rank === 0) {
    heap[outBase] = heap[xBase] as number
    return
  }
  const strides = new Array<number>(rank)
  strides[rank - 1] = 1
  for (let j = rank - 2; j >= 0; j--) strides[j] = (strides[j + 1] as number) * (xShape[j + 1] as number)
  let k = rank - 1
  while (k > 0 && size[k] === xShape[k]) k--
  const run = (size[k] as number) * (strides[k] as number)
  let from = xBase
  for (let j = 0; j < rank; j++) from += (begin[j] as number) * (strides[j] as number)
  let outer = 1
  for (let j = 0; j < k; j++) outer *= size[j] as number
  const idx = new Array<number>(k).fill(0)
  let to = outBase
  for (let n = 0; n < outer; n++) {
    if (run >= copyLoopLimit) heap.copyWithin(to, from, from + run)
    else for (let s = 0; s < run; s++) heap[to + s] = heap[from + s] as number
    to += run
    for (let j = k - 1; j >= 0; j--) {
      from += strides[j] as number
      if (++(idx[j] as number) < (size[j] as number)) break
      from -= (size[j] as number) * (strides[j] as number)
      idx[j] = 0
    }
  }
}

/** One slice on the wasm backend: allocate, then view the heap (an allocation can grow and detach it). */
const sliceOnHeap = (
  backend: WasmBackend,
  x: tf.TensorInfo,
  begin: ReadonlyArray<number>,
  size: ReadonlyArray<number>,
  bytes: 1 | 4,
): tf.TensorInfo => {
  const out = backend.makeOutput(size, x.dtype)
  if (tf.util.sizeFromShape([...size]) === 0) return out
  const heapU8 = backend.wasm.HEAPU8
  const heap = bytes === 1 ? heapU8 : new Int32Array(heapU8.buffer)
  copySlice(heap, memoryOffset(backend, x) / bytes, x.shape, begin, size, memoryOffset(backend, out) / bytes)
  return out
}

/** The Slice kernel function for "wasm". */
export const wasmSlice: tf.KernelFunc = (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo }
  const bytes = elementBytes(x.dtype)
  if (bytes === undefined) return stock("Slice", args)
  const { begin, size } = args.attrs as unknown as { begin: number | Array<number>; size: number | Array<number> }
  const [begin_ = [], size_ = []] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size)
  return sliceOnHeap(asWasm(args.backend), x, begin_, size_, bytes)
}

/** The SplitV kernel function for "wasm": one heap slice per piece. */
export const wasmSplitV: tf.KernelFunc = (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo }
  const bytes = elementBytes(x.dtype)
  if (bytes === undefined) return stock("SplitV", args)
  const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | Array<number>; axis: number }
  const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0] as number
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, parsedAxis)
  const backend = asWasm(args.backend)
  const begin = new Array<number>(x.shape.length).fill(0)
  return sizes.map((piece) => {
    const size = [...x.shape]
    size[parsedAxis] = piece
    const out = sliceOnHeap(backend, x, begin, size, bytes)
    begin[parsedAxis] = (begin[parsedAxis] as number) + piece
    return out
  })
}
