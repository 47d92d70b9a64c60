/**
 * Tile, Concat and the broadcasting comparisons (Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual) on the
 * wasm heap, without a host read (docs/compute.md §6):
 *
 *   Tile:    out[i_0, …, i_{r-1}] = x[i_0 mod x_0, …, i_{r-1} mod x_{r-1}],      out_j = x_j · reps_j
 *   Concat:  out[o, c_0 + k, n] = x_m[o, k, n]  along the axis, c_m = Σ_{m' < m} x_{m'}.shape[axis]
 *   compare: out[i] = a[i_a] ⊙ b[i_b]  (numpy broadcasting: an axis of size 1 reads index 0), out is bool
 *
 * Each walks the OUTPUT row by row (every axis but the last) like an odometer, keeping the source offsets of the
 * row; a Tile row is the source row repeated, a Concat row is one run per input, a comparison row is one loop with
 * strides 0 or 1. In a training step of the small preset the stock kernels took ~45% of the time (a broadcast Equal
 * of 1 M elements in the gradient of max: 600-900 ms; Tile of the attention mask: 300-500 ms; a last-axis Concat
 * of RoPE pairs: 70-500 ms), because stock wasm falls back to the host and per-element index arithmetic there.
 * Strings (and any dtype but float32, int32, bool) go to the stock kernels.
 */
import * as tf from "@tensorflow/tfjs"
import { stockKernel } from "./registry.ts"
import { asWasm, memoryOffset, type WasmBackend } from "./wasm-internals.ts"

type Heap = Float32Array | Int32Array | Uint8Array

const copyLoopLimit = 16

const bytesOf = (dtype: tf.DataType): 1 | 4 | undefined =>
  dtype === "float32" || dtype === "int32" ? 4 : dtype === "bool" ? 1 : undefined

const stock = (name: string, args: Parameters<tf.KernelFunc>[0]) => {
  const config = stockKernel(name, "wasm")
  if (config === undefined) throw new Error(`tfjs-backend-wasm registers no ${name} kernel`)
  return config.kernelFunc(args)
}

/** A typed view of the whole heap for `dtype` (take it after every allocation). */
const heapView = (backend: WasmBackend, dtype: tf.DataType): Heap => {
  const u8 = backend.wasm.HEAPU8
  if (dtype === "float32") return new Float32Array(u8.buffer)
  if (dtype === "int32") return new Int32Array(u8.buffer)
  return u8
}

const base = (backend: WasmBackend, info: tf.TensorInfo, bytes: number): number => memoryOffset(backend, info) / bytes

const stridesOf = (shape: ReadonlyArray<number>): Array<number> => {
  const strides = new Array<number>(shape.length).fill(1)
  for (let j = shape.length - 2; j >= 0; j--) strides[j] = (strides[j + 1] as number) * (shape[j + 1] as number)
  return strides
}

const copyRun = (heap: Heap, to: number, from: number, n: number): void => {
  if (n >= copyLoopLimit) heap.copyWithin(to, from, from + n)
  else for (let s = 0; s < n; s++) heap[to + s] = heap[from + s] as number
}

/**
 * Calls `row(n, sources)` for every row n of an output of shape `outShape` (rank >= 1; a row is the last axis),
 * where `sources[k]` = starts[k] + Σ_j offset(k, j, i_j) over the row's outer indices (i_0, …, i_{r-2}).
 */
const eachRow = (
  outShape: ReadonlyArray<number>,
  starts: ReadonlyArray<number>,
  offset: (k: number, j: number, i: number) => number,
  row: (n: number, sources: ReadonlyArray<number>) => void,
): void => {
  const outer = outShape.length - 1
  let rows = 1
  for (let j = 0; j < outer; j++) rows *= outShape[j] as number
  const idx = new Array<number>(outer).fill(0)
  const sources = [...starts]
  for (let n = 0; n < rows; n++) {
    for (let k = 0; k < starts.length; k++) {
      let at = starts[k] as number
      for (let j = 0; j < outer; j++) at += offset(k, j, idx[j] as number)
      sources[k] = at
    }
    row(n, sources)
    for (let j = outer - 1; j >= 0; j--) {
      if (++(idx[j] as number) < (outShape[j] as number)) break
      idx[j] = 0
    }
  }
}

/** Tile of x (shape, at element xBase) by reps into outBase: each output row is x's row repeated. */
export const tileOnHeap = (
  heap: Heap,
  xBase: number,
  shape: ReadonlyArray<number>,
  reps: ReadonlyArray<number>,
  outBase: number,
): void => {
  const outShape = shape.map((d, j) => d * (reps[j] as number))
  if (outShape.some((d) => d === 0)) return
  if (shape.length === 0) {
    heap[outBase] = heap[xBase] as number
    return
  }
  const strides = stridesOf(shape)
  const width = shape[shape.length - 1] as number
  const outWidth = outShape[outShape.length - 1] as number
  eachRow(
    outShape,
    [xBase],
    (_, j, i) => (i % (shape[j] as number)) * (strides[j] as number),
    (n, [from]) => {
      const to = outBase + n * outWidth
      if (width === 1) heap.fill(heap[from as number] as number, to, to + outWidth)
      else for (let r = 0; r < outWidth; r += width) copyRun(heap, to + r, from as number, width)
    },
  )
}

/** The Tile kernel function for "wasm". */
export const wasmTile: tf.KernelFunc = (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo }
  const bytes = bytesOf(x.dtype)
  if (bytes === undefined) return stock("Tile", args)
  const { reps } = args.attrs as unknown as { reps: Array<number> }
  const backend = asWasm(args.backend)
  const out = backend.makeOutput(
    x.shape.map((d, j) => d * (reps[j] as number)),
    x.dtype,
  )
  if (tf.util.sizeFromShape(out.shape) === 0) return out
  tileOnHeap(heapView(backend, x.dtype), base(backend, x, bytes), x.shape, reps, base(backend, out, bytes))
  return out
}

/** Concat of `inputs` (element bases and shapes) along `axis` into outBase. */
export const concatOnHeap = (
  heap: Heap,
  inputs: ReadonlyArray<{ readonly base: number; readonly shape: ReadonlyArray<number> }>,
  axis: number,
  outBase: number,
): void => {
  const first = inputs[0]?.shape ?? []
  let outer = 1
  for (let j = 0; j < axis; j++) outer *= first[j] as number
  let inner = 1
  for (let j = axis + 1; j < first.length; j++) inner *= first[j] as number
  const runs = inputs.map((input) => (input.shape[axis] as number) * inner)
  const width = runs.reduce((a, b) => a + b, 0)
  let to = outBase
  for (let o = 0; o < outer; o++) {
    for (let m = 0; m < inputs.length; m++) {
      const run = runs[m] as number
      if (run === 0) continue
      copyRun(heap, to, (inputs[m] as { base: number }).base + o * run, run)
      to += run
    }
  }
  if (to !== outBase + outer * width) throw new Error("concat: inconsistent shapes")
}

/** The Concat kernel function for "wasm". */
export const wasmConcat: tf.KernelFunc = (args) => {
  const inputs = args.inputs as unknown as Array<tf.TensorInfo>
  const dtype = inputs[0]?.dtype ?? "float32"
  const bytes = bytesOf(dtype)
  if (bytes === undefined || inputs.some((t) => t.dtype !== dtype)) return stock("Concat", args)
  const { axis } = args.attrs as unknown as { axis: number }
  const parsed = tf.util.parseAxisParam(axis, (inputs[0] as tf.TensorInfo).shape)[0] as number
  const shapes = inputs.map((t) => t.shape)
  tf.backend_util.assertParamsConsistent(shapes, parsed)
  const outShape = tf.backend_util.computeOutShape(shapes, parsed)
  const backend = asWasm(args.backend)
  const out = backend.makeOutput(outShape, dtype)
  if (tf.util.sizeFromShape(outShape) === 0) return out
  const live = inputs.filter((t) => tf.util.sizeFromShape(t.shape) > 0)
  const heap = heapView(backend, dtype)
  concatOnHeap(
    heap,
    live.map((t) => ({ base: base(backend, t, bytes), shape: t.shape })),
    parsed,
    base(backend, out, bytes),
  )
  return out
}

export type Comparison = "Equal" | "NotEqual" | "Less" | "LessEqual" | "Greater" | "GreaterEqual"

const compareRow: Record<
  Comparison,
  (a: Heap, b: Heap, out: Uint8Array, n: number, ai: number, as: number, bi: number, bs: number, o: number) => void
> = {
  Equal: (a, b, out, n, ai, as, bi, bs, o) => {
    for (let i = 0; i < n; i++) out[o + i] = (a[ai + i * as] as number) === (b[bi + i * bs] as number) ? 1 : 0
  },
  NotEqual: (a, b, out, n, ai, as, bi, bs, o) => {
    for (let i = 0; i < n; i++) out[o + i] = (a[ai + i * as] as number) !== (b[bi + i * bs] as number) ? 1 : 0
  },
  Less: (a, b, out, n, ai, as, bi, bs, o) => {
    for (let i = 0; i < n; i++) out[o + i] = (a[ai + i * as] as number) < (b[bi + i * bs] as number) ? 1 : 0
  },
  LessEqual: (a, b, out, n, ai, as, bi, bs, o) => {
    for (let i = 0; i < n; i++) out[o + i] = (a[ai + i * as] as number) <= (b[bi + i * bs] as number) ? 1 : 0
  },
  Greater: (a, b, out, n, ai, as, bi, bs, o) => {
    for (let i = 0; i < n; i++) out[o + i] = (a[ai + i * as] as number) > (b[bi + i * bs] as number) ? 1 : 0
  },
  GreaterEqual: (a, b, out, n, ai, as, bi, bs, o) => {
    for (let i = 0; i < n; i++) out[o + i] = (a[ai + i * as] as number) >= (b[bi + i * bs] as number) ? 1 : 0
  },
}

/** Strides of `shape` aligned right to an output of rank `rank`, 0 on broadcast axes. */
const broadcastStrides = (shape: ReadonlyArray<number>, outShape: ReadonlyArray<number>): Array<number> => {
  const own = stridesOf(shape)
  const lead = outShape.length - shape.length
  return outShape.map((_, j) => {
    const k = j - lead
    return k < 0 || (shape[k] as number) === 1 ? 0 : (own[k] as number)
  })
}

/** out = a ⊙ b with broadcasting; a, b in one heap view (same dtype), out a bool view of the same heap. */
export const compareOnHeap = (
  op: Comparison,
  values: Heap,
  bools: Uint8Array,
  a: { readonly base: number; readonly shape: ReadonlyArray<number> },
  b: { readonly base: number; readonly shape: ReadonlyArray<number> },
  outShape: ReadonlyArray<number>,
  outBase: number,
): void => {
  const shape = outShape.length === 0 ? [1] : outShape
  const stridesA = broadcastStrides(a.shape, shape)
  const stridesB = broadcastStrides(b.shape, shape)
  const width = shape[shape.length - 1] as number
  const last = shape.length - 1
  const strides = [stridesA, stridesB]
  const loop = compareRow[op]
  eachRow(
    shape,
    [a.base, b.base],
    (k, j, i) => i * ((strides[k] as Array<number>)[j] as number),
    (n, [ai, bi]) =>
      loop(
        values,
        values,
        bools,
        width,
        ai as number,
        stridesA[last] as number,
        bi as number,
        stridesB[last] as number,
        outBase + n * width,
      ),
  )
}

/** A comparison kernel function for "wasm". */
export const wasmComparison =
  (op: Comparison): tf.KernelFunc =>
  (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo }
    const bytes = bytesOf(a.dtype)
    if (bytes === undefined || a.dtype !== b.dtype) return stock(op, args)
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape)
    const backend = asWasm(args.backend)
    const out = backend.makeOutput(outShape, "bool")
    if (tf.util.sizeFromShape(outShape) === 0) return out
    compareOnHeap(
      op,
      heapView(backend, a.dtype),
      backend.wasm.HEAPU8,
      { base: base(backend, a, bytes), shape: a.shape },
      { base: base(backend, b, bytes), shape: b.shape },
      outShape,
      memoryOffset(backend, out),
    )
    return out
  }

export const comparisons: ReadonlyArray<Comparison> = [
  "Equal",
  "NotEqual",
  "Less",
  "LessEqual",
  "Greater",
  "GreaterEqual",
]
