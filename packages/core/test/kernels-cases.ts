/**
 * Shared cases and plain-JS references for the kernel tests (kernels-wasm.test.ts, kernels-cpu.test.ts).
 * References compute in float64 from the input arrays, independent of tfjs, so a wrong stock kernel cannot hide a
 * wrong fast one.
 */
import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { expect } from "vitest"

/** Deterministic values in [-1, 1) (a 32-bit LCG), so fixtures are the same on every run and backend. */
export const seededValues = (length: number, seed: number): Float32Array => {
  const out = new Float32Array(length)
  let state = (seed * 2654435761) >>> 0
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    out[i] = state / 2 ** 31 - 1
  }
  return out
}

export const seededTensor = (shape: ReadonlyArray<number>, seed: number): tf.Tensor =>
  tf.tensor(seededValues(tf.util.sizeFromShape([...shape]), seed), [...shape])

export interface MatMulCase {
  readonly aShape: ReadonlyArray<number>
  readonly bShape: ReadonlyArray<number>
  readonly transposeA: boolean
  readonly transposeB: boolean
}

const matrixShape = (rows: number, cols: number, transposed: boolean) => (transposed ? [cols, rows] : [rows, cols])

export const matMulCase = (
  batchA: ReadonlyArray<number>,
  batchB: ReadonlyArray<number>,
  [m, k, n]: readonly [number, number, number],
  transposeA: boolean,
  transposeB: boolean,
): MatMulCase => ({
  aShape: [...batchA, ...matrixShape(m, k, transposeA)],
  bShape: [...batchB, ...matrixShape(k, n, transposeB)],
  transposeA,
  transposeB,
})

/** Hand-picked shapes: every transpose pair, 1x1, odd sizes, k = 1, batches, one-sided and two-sided broadcasts. */
export const fixedMatMulCases: ReadonlyArray<MatMulCase> = [
  matMulCase([], [], [1, 1, 1], false, false),
  matMulCase([], [], [7, 13, 5], false, false),
  matMulCase([], [], [7, 13, 5], true, false),
  matMulCase([], [], [7, 13, 5], false, true),
  matMulCase([], [], [7, 13, 5], true, true),
  matMulCase([], [], [33, 20, 17], true, true),
  matMulCase([], [], [9, 1, 6], false, false),
  matMulCase([3], [], [5, 1, 4], true, true),
  matMulCase([4], [4], [20, 18, 19], false, false),
  matMulCase([4], [4], [20, 18, 19], true, true),
  matMulCase([3], [], [20, 17, 19], false, false),
  matMulCase([3], [], [20, 17, 19], true, false),
  matMulCase([], [3], [20, 17, 19], false, true),
  matMulCase([2, 1], [1, 3], [18, 17, 20], false, false),
  matMulCase([2, 1], [3], [4, 5, 6], true, false),
  matMulCase([5], [5], [3, 4, 2], false, true),
]

/** Random small cases: batch dims with broadcasting, sizes 1..24, any transposes. */
export const arbitraryMatMulCase: fc.Arbitrary<MatMulCase> = fc
  .record({
    batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    dropA: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
    dropB: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
    sizes: fc.tuple(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 24 })),
    transposeA: fc.boolean(),
    transposeB: fc.boolean(),
  })
  .map(({ batch, dropA, dropB, sizes, transposeA, transposeB }) => {
    const batchA = batch.map((d, i) => (dropA[i] ? 1 : d))
    const batchB = batch.map((d, i) => (dropB[i] ? 1 : d)).slice(dropB[0] ? 1 : 0)
    return matMulCase(batchA, batchB, sizes, transposeA, transposeB)
  })

const strides = (shape: ReadonlyArray<number>) => {
  const out = shape.map(() => 1)
  for (let i = shape.length - 2; i >= 0; i--) out[i] = (out[i + 1] as number) * (shape[i + 1] as number)
  return out
}

/** float64 reference of op(a) @ op(b) with NumPy batch broadcasting; returns values and shape. */
export const referenceMatMul = (
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: MatMulCase,
): { readonly values: Float64Array; readonly shape: ReadonlyArray<number> } => {
  const ar = c.aShape.length
  const br = c.bShape.length
  const m = c.transposeA ? (c.aShape[ar - 1] as number) : (c.aShape[ar - 2] as number)
  const k = c.transposeA ? (c.aShape[ar - 2] as number) : (c.aShape[ar - 1] as number)
  const n = c.transposeB ? (c.bShape[br - 2] as number) : (c.bShape[br - 1] as number)
  const batchA = c.aShape.slice(0, -2)
  const batchB = c.bShape.slice(0, -2)
  const rank = Math.max(batchA.length, batchB.length)
  const padA = [...Array(rank - batchA.length).fill(1), ...batchA] as Array<number>
  const padB = [...Array(rank - batchB.length).fill(1), ...batchB] as Array<number>
  const batch = padA.map((d, i) => Math.max(d, padB[i] as number))
  const total = batch.reduce((p, d) => p * d, 1)
  const sA = strides(padA)
  const sB = strides(padB)
  const sOut = strides(batch)
  const values = new Float64Array(total * m * n)
  for (let t = 0; t < total; t++) {
    let ia = 0
    let ib = 0
    for (let d = 0; d < rank; d++) {
      const coord = Math.floor(t / (sOut[d] as number)) % (batch[d] as number)
      if (padA[d] !== 1) ia += coord * (sA[d] as number)
      if (padB[d] !== 1) ib += coord * (sB[d] as number)
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0
        for (let p = 0; p < k; p++) {
          const av = a[ia * m * k + (c.transposeA ? p * m + i : i * k + p)] as number
          const bv = b[ib * k * n + (c.transposeB ? j * k + p : p * n + j)] as number
          sum += av * bv
        }
        values[(t * m + i) * n + j] = sum
      }
    }
  }
  return { values, shape: [...batch, m, n] }
}

/** Inner size of a case (sets the float32 rounding tolerance). */
export const innerSize = (c: MatMulCase): number =>
  c.transposeA ? (c.aShape[c.aShape.length - 2] as number) : (c.aShape[c.aShape.length - 1] as number)

/** Element-wise |actual - expected| <= tolerance, with a message naming the first bad index. */
export const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void => {
  expect(actual.length).toBe(expected.length)
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs((actual[i] as number) - (expected[i] as number))
    if (!(diff <= tolerance)) expect.fail(`index ${i}: ${actual[i]} vs ${expected[i]} (tolerance ${tolerance})`)
  }
}

/** float64 reference of UnsortedSegmentSum over rows of `width` elements (ids outside [0, S) dropped). */
export const referenceSegmentSum = (
  x: ArrayLike<number>,
  ids: ArrayLike<number>,
  width: number,
  numSegments: number,
): Float64Array => {
  const out = new Float64Array(numSegments * width)
  for (let p = 0; p < ids.length; p++) {
    const s = ids[p] as number
    if (s < 0 || s >= numSegments) continue
    for (let j = 0; j < width; j++) out[s * width + j] = (out[s * width + j] as number) + (x[p * width + j] as number)
  }
  return out
}

/**
 * Central finite difference of a scalar function of one tensor, at every element: (f(x + h e_i) - f(x - h e_i)) / 2h.
 */
export const finiteDifference = (f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, h: number): Float64Array => {
  const base = x.dataSync()
  const out = new Float64Array(base.length)
  for (let i = 0; i < base.length; i++) {
    const shifted = (delta: number) =>
      tf.tidy(() => {
        const values = Float32Array.from(base)
        values[i] = (values[i] as number) + delta
        return f(tf.tensor(values, x.shape)).dataSync()[0] as number
      })
    out[i] = (shifted(h) - shifted(-h)) / (2 * h)
  }
  return out
}

/** Values of a tensor as a plain array, then disposes it. */
export const take = (t: tf.Tensor): Float32Array | Int32Array | Uint8Array => {
  const values = t.dataSync()
  t.dispose()
  return values as Float32Array | Int32Array | Uint8Array
}

/** Reference GatherV2: out[b, o, i, s] = x[b, o, ids[b, i], s] (tfjs's shape rules), for any numeric array. */
export const referenceGather = (
  x: ArrayLike<number>,
  xShape: ReadonlyArray<number>,
  ids: ArrayLike<number>,
  idsShape: ReadonlyArray<number>,
  axis: number,
  batchDims: number,
): Array<number> => {
  const size = (dims: ReadonlyArray<number>) => dims.reduce((p, d) => p * d, 1)
  const batch = size(xShape.slice(0, batchDims))
  const outer = size(xShape.slice(batchDims, axis))
  const dim = xShape[axis] as number
  const slice = size(xShape.slice(axis + 1))
  const perBatch = size(idsShape) / batch
  const out: Array<number> = []
  for (let b = 0; b < batch; b++)
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < perBatch; i++)
        for (let s = 0; s < slice; s++)
          out.push(x[((b * outer + o) * dim + (ids[b * perBatch + i] as number)) * slice + s] as number)
  return out
}

/** Stock tfjs (wasm and cpu) broadcasts batches right only when they match or one side has a single matrix. */
export const stockBroadcastsCorrectly = (c: MatMulCase): boolean => {
  const batchA = tf.util.sizeFromShape(c.aShape.slice(0, -2))
  const batchB = tf.util.sizeFromShape(c.bShape.slice(0, -2))
  return batchA === batchB || batchA === 1 || batchB === 1
}
