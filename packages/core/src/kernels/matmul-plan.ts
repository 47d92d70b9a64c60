/**
 * Shape plan of a batched matrix product, shared by the fast BatchMatMul paths.
 *
 *   out[..., i, j] = Σ_p op(a)[..., i, p] · op(b)[..., p, j]      op = transpose of the last two axes when asked
 *
 * a: [...batchA, m, k] ([..., k, m] when transposeA); b: [...batchB, k, n] ([..., n, k] when transposeB);
 * out: [...broadcast(batchA, batchB), m, n]. Batch dimensions broadcast like NumPy (size-1 or missing dims
 * repeat), as tfjs's BatchMatMul documents; each output batch entry gets the element offsets of its a, b and
 * out matrices. Deviation from stock tfjs: stock wasm/cpu compute wrong values when both operands broadcast
 * (e.g. [2,1,m,k] @ [1,3,k,n]); this plan handles every broadcast.
 */
import * as tf from "@tensorflow/tfjs"
import { ShapeError } from "../errors.ts"

export interface MatMulPlan {
  readonly m: number
  readonly n: number
  readonly k: number
  readonly transposeA: boolean
  readonly transposeB: boolean
  /** [...broadcast batch, m, n] */
  readonly outShape: ReadonlyArray<number>
  /** Matrices in the output (product of the broadcast batch dims). */
  readonly batch: number
  /** Matrices stored in a and in b. */
  readonly batchA: number
  readonly batchB: number
  /** b is one matrix shared by every batch entry and a is not transposed: a is one [batchA·m, k] matrix. */
  readonly foldA: boolean
}

const product = (dims: ReadonlyArray<number>): number => dims.reduce((p, d) => p * d, 1)

/** Plans `op(a) @ op(b)`; throws ShapeError on ranks below 2, unequal inner sizes or unbroadcastable batches. */
export const planMatMul = (
  aShape: ReadonlyArray<number>,
  bShape: ReadonlyArray<number>,
  transposeA: boolean,
  transposeB: boolean,
): MatMulPlan => {
  if (aShape.length < 2) throw new ShapeError({ argument: "matMul a", expected: "rank >= 2", actual: `[${aShape}]` })
  if (bShape.length < 2) throw new ShapeError({ argument: "matMul b", expected: "rank >= 2", actual: `[${bShape}]` })
  const [aRows, aCols] = aShape.slice(-2) as [number, number]
  const [bRows, bCols] = bShape.slice(-2) as [number, number]
  const m = transposeA ? aCols : aRows
  const k = transposeA ? aRows : aCols
  const kB = transposeB ? bCols : bRows
  const n = transposeB ? bRows : bCols
  if (k !== kB) {
    throw new ShapeError({
      argument: "matMul b",
      expected: `inner size ${k} (a: [${aShape}], transposeA=${transposeA})`,
      actual: `${kB} ([${bShape}], transposeB=${transposeB})`,
    })
  }
  const aBatch = aShape.slice(0, -2)
  const bBatch = bShape.slice(0, -2)
  let batchShape: Array<number>
  try {
    batchShape = tf.broadcast_util.assertAndGetBroadcastShape(aBatch, bBatch)
  } catch {
    throw new ShapeError({
      argument: "matMul b",
      expected: `batch dims broadcastable with [${aBatch}]`,
      actual: `[${bBatch}]`,
    })
  }
  const batchA = product(aBatch)
  const batchB = product(bBatch)
  return {
    m,
    n,
    k,
    transposeA,
    transposeB,
    outShape: [...batchShape, m, n],
    batch: product(batchShape),
    batchA,
    batchB,
    foldA: batchB === 1 && !transposeA,
  }
}

/**
 * For each output batch entry (row-major over the broadcast batch shape), the index of the matrix of an operand
 * whose batch dims are `inShape` (right-aligned; size-1 and missing dims broadcast).
 */
export const broadcastBatchIndex = (inShape: ReadonlyArray<number>, outShape: ReadonlyArray<number>): Uint32Array => {
  const batch = product(outShape)
  const index = new Uint32Array(batch)
  const shift = outShape.length - inShape.length
  for (let i = 0; i < batch; i++) {
    let rest = i
    let flat = 0
    let stride = 1
    for (let d = outShape.length - 1; d >= 0; d--) {
      const size = outShape[d] as number
      const coord = rest % size
      rest = (rest - coord) / size
      const inDim = d - shift >= 0 ? (inShape[d - shift] as number) : 1
      if (inDim !== 1) flat += coord * stride
      stride *= inDim
    }
    index[i] = flat
  }
  return index
}

/** Element offsets of every batch entry's a, b and out matrices (for the batched GEMM). */
export const batchOffsets = (
  plan: MatMulPlan,
  aShape: ReadonlyArray<number>,
  bShape: ReadonlyArray<number>,
): { readonly a: Uint32Array; readonly b: Uint32Array; readonly out: Uint32Array } => {
  const outBatch = plan.outShape.slice(0, -2)
  const a = broadcastBatchIndex(aShape.slice(0, -2), outBatch)
  const b = broadcastBatchIndex(bShape.slice(0, -2), outBatch)
  const out = new Uint32Array(plan.batch)
  const aSize = plan.m * plan.k
  const bSize = plan.k * plan.n
  const outSize = plan.m * plan.n
  for (let i = 0; i < plan.batch; i++) {
    a[i] = (a[i] as number) * aSize
    b[i] = (b[i] as number) * bSize
    out[i] = i * outSize
  }
  return { a, b, out }
}
