/**
 * BatchMatMul for the wasm backend, fast for transposed and batched operands (docs/compute.md §3).
 *
 *   out[..., i, j] = Σ_p op(a)[..., i, p] · op(b)[..., p, j]      shapes and broadcasting: matmul-plan.ts
 *
 * Stock tfjs-backend-wasm runs XNNPACK only for one untransposed, unbatched product; every transposed or batched
 * one (all matmul gradients, batched attention) falls to a scalar loop at ~0.8 GFLOP/s. Paths, first match:
 * - native OpenBLAS loaded: cblas_sgemm on zero-copy heap views (one call when b is shared and a is not
 *   transposed, else one strided batch call); transposes are BLAS flags, no copies;
 * - k = 1: a broadcast multiply [.., m, 1] · [.., 1, n] (outer products);
 * - one untransposed product, or tiny batched ones (the loop wins below ~16): the stock kernel;
 * - otherwise: transposed operands are materialised with the wasm Transpose kernel, then XNNPACK runs once on
 *   [batchA·m, k] @ [k, n] when b is shared, else once per batch entry on heap sub-ranges registered as tensors.
 * Deviation: results differ from stock in float rounding only (summation order), and broadcasting of both
 * operands at once is correct here (stock is not).
 */
import type * as tf from "@tensorflow/tfjs"
import type { NativeBlas } from "../native/addon.ts"
import { batchOffsets, type MatMulPlan, planMatMul } from "./matmul-plan.ts"
import { callKernel, stockKernel } from "./registry.ts"
import { asWasm, disposeInfos, heapF32, memoryOffset, type WasmBackend, withHeapViews } from "./wasm-internals.ts"

/** Below this size in every dimension, the stock loop beats XNNPACK's per-call setup for batched products. */
export const tinyMatMulDim = 16

interface MatMulAttrs {
  readonly transposeA: boolean
  readonly transposeB: boolean
}

type CBatchMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: number,
  transposeB: number,
  outId: number,
) => void

const cBatchMatMuls = new WeakMap<object, CBatchMatMul>()

/** The wasm binary's exported BatchMatMul (XNNPACK for untransposed batch-1 operands), bound once per module. */
const cBatchMatMul = (backend: WasmBackend): CBatchMatMul => {
  let fn = cBatchMatMuls.get(backend.wasm)
  if (fn === undefined) {
    const args = ["number", "array", "number", "number", "array", "number", "number", "number", "number"] as const
    fn = backend.wasm.cwrap("BatchMatMul", null, args) as CBatchMatMul
    cBatchMatMuls.set(backend.wasm, fn)
  }
  return fn
}

const shapeBytes = (shape: ReadonlyArray<number>) => new Uint8Array(new Int32Array(shape).buffer)

/** The same data under another shape of equal size (no copy, no refcount change: valid inside this kernel). */
const reinterpret = (info: tf.TensorInfo, shape: ReadonlyArray<number>): tf.TensorInfo => ({
  dataId: info.dataId,
  shape: [...shape],
  dtype: info.dtype,
})

const size = (shape: ReadonlyArray<number>) => shape.reduce((p, d) => p * d, 1)

const zeros = (backend: WasmBackend, shape: ReadonlyArray<number>): tf.TensorInfo => {
  const out = backend.makeOutput(shape, "float32")
  if (size(shape) > 0) heapF32(backend, out).fill(0)
  return out
}

/** Native path: cblas_sgemm straight on the heap. */
const nativeMatMul = (
  blas: NativeBlas,
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  plan: MatMulPlan,
): tf.TensorInfo => {
  const { m, n, k, transposeA, transposeB } = plan
  if (size(plan.outShape) === 0 || k === 0) return zeros(backend, plan.outShape)
  const out = backend.makeOutput(plan.outShape, "float32")
  const c = heapF32(backend, out)
  const av = heapF32(backend, a)
  const bv = heapF32(backend, b)
  const lda = transposeA ? m : k
  const ldb = transposeB ? k : n
  if (plan.batch === 1 || plan.foldA) {
    const rows = plan.foldA ? plan.batchA * m : m
    blas.sgemm(transposeA, transposeB, rows, n, k, 1, av, 0, lda, bv, 0, ldb, 0, c, 0, n)
  } else {
    const offsets = batchOffsets(plan, a.shape, b.shape)
    blas.sgemmBatched(transposeA, transposeB, m, n, k, 1, av, offsets.a, lda, bv, offsets.b, ldb, 0, c, offsets.out, n)
  }
  return out
}

/** a ⊗ b for k = 1: [..., m, 1] · [..., 1, n] broadcast by the wasm Multiply kernel. */
const outerProduct = (backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, plan: MatMulPlan): tf.TensorInfo => {
  // With k = 1 a transposed operand has the same memory layout as an untransposed one.
  const a3 = reinterpret(a, [...a.shape.slice(0, -2), plan.m, 1])
  const b3 = reinterpret(b, [...b.shape.slice(0, -2), 1, plan.n])
  return callKernel("Multiply", "wasm", backend, { a: a3, b: b3 })
}

const transposeLastTwo = (backend: WasmBackend, x: tf.TensorInfo): tf.TensorInfo => {
  const rank = x.shape.length
  const perm = [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2]
  return callKernel("Transpose", "wasm", backend, { x }, { perm })
}

/** XNNPACK once per batch entry, on heap sub-ranges registered as C tensors (a, b untransposed). */
const xnnpackPerBatch = (backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, plan: MatMulPlan) => {
  const { m, n, k } = plan
  const out = backend.makeOutput(plan.outShape, "float32")
  const offsets = batchOffsets(plan, a.shape, b.shape)
  const run = cBatchMatMul(backend)
  const aBase = memoryOffset(backend, a)
  const bBase = memoryOffset(backend, b)
  const outBase = memoryOffset(backend, out)
  const aShape = shapeBytes([1, m, k])
  const bShape = shapeBytes([1, k, n])
  for (let i = 0; i < plan.batch; i++) {
    const views = [
      { byteOffset: aBase + 4 * (offsets.a[i] as number), size: m * k },
      { byteOffset: bBase + 4 * (offsets.b[i] as number), size: k * n },
      { byteOffset: outBase + 4 * (offsets.out[i] as number), size: m * n },
    ]
    withHeapViews(backend, views, ([aId, bId, outId]) => run(aId!, aShape, 3, bId!, bShape, 3, 0, 0, outId!))
  }
  return out
}

/** Whether stock wasm broadcasts these batches correctly (it does when they match or one side has one matrix). */
const stockBroadcastsCorrectly = (plan: MatMulPlan) =>
  plan.batchA === plan.batchB || plan.batchA === 1 || plan.batchB === 1

/** Without native BLAS: XNNPACK with materialised transposes, the stock loop for tiny products. */
const wasmMatMul = (
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  plan: MatMulPlan,
  stock: tf.KernelFunc,
): tf.TensorInfo => {
  const { m, n, k, transposeA, transposeB } = plan
  if (size(plan.outShape) === 0 || k === 0) return zeros(backend, plan.outShape)
  if (k === 1) return outerProduct(backend, a, b, plan)
  const runStock = (x: tf.TensorInfo, y: tf.TensorInfo, tA: boolean, tB: boolean) =>
    stock({ inputs: { a: x, b: y }, backend, attrs: { transposeA: tA, transposeB: tB } }) as tf.TensorInfo
  if (plan.batch === 1 && !transposeA && !transposeB) return runStock(a, b, false, false)
  const tiny = Math.max(m, n, k) < tinyMatMulDim
  if (tiny && plan.batch > 1 && stockBroadcastsCorrectly(plan)) return runStock(a, b, transposeA, transposeB)
  const temporaries: Array<tf.TensorInfo> = []
  const untransposed = (x: tf.TensorInfo, transposed: boolean) => {
    if (!transposed) return x
    const t = transposeLastTwo(backend, x)
    temporaries.push(t)
    return t
  }
  try {
    const aN = untransposed(a, transposeA)
    const bN = untransposed(b, transposeB)
    if (plan.batchB === 1) {
      const out = runStock(reinterpret(aN, [plan.batchA * m, k]), reinterpret(bN, [k, n]), false, false)
      return reinterpret(out, plan.outShape)
    }
    return xnnpackPerBatch(backend, aN, bN, plan)
  } finally {
    disposeInfos(backend, temporaries)
  }
}

/** The product of two float32 tensors on the wasm backend by the fastest path available (native when given). */
export const fastMatMul = (
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  blas: NativeBlas | undefined,
): tf.TensorInfo => {
  const plan = planMatMul(a.shape, b.shape, transposeA, transposeB)
  const stock = stockKernel("BatchMatMul", "wasm")
  if (stock === undefined) throw new Error("tfjs-backend-wasm registers no BatchMatMul kernel")
  return blas === undefined
    ? wasmMatMul(backend, a, b, plan, stock.kernelFunc)
    : nativeMatMul(blas, backend, a, b, plan)
}

/** The BatchMatMul kernel function for "wasm"; `blas()` gives the native BLAS when it is in use. */
export const wasmBatchMatMul =
  (blas: () => NativeBlas | undefined): tf.KernelFunc =>
  ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo }
    const { transposeA, transposeB } = attrs as unknown as MatMulAttrs
    if (a.dtype !== "float32" || b.dtype !== "float32") {
      throw new Error(`BatchMatMul: float32 operands only on wasm, got ${a.dtype} and ${b.dtype}`)
    }
    return fastMatMul(asWasm(backend), a, b, transposeA, transposeB, blas())
  }
