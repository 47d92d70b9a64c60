import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import { initBackend } from "../src/index.ts"
import { registerFastKernels, restoreStockKernels, stockKernel } from "../src/kernels/index.ts"
import {
  expectClose,
  finiteDifference,
  fixedMatMulCases,
  innerSize,
  type MatMulCase,
  referenceMatMul,
  referenceSegmentSum,
  seededTensor,
  seededValues,
  stockBroadcastsCorrectly,
  take,
} from "./kernels-cases.ts"

// One backend per file (tfjs is global state): the stock pure-JS cpu backend, where only UnsortedSegmentSum is
// replaced and the gradients tfjs lacks are added.

beforeAll(async () => {
  await initBackend("cpu")
})

const onStock = <A>(fn: () => A): A => {
  restoreStockKernels("cpu")
  try {
    return fn()
  } finally {
    registerFastKernels("cpu")
  }
}

describe("UnsortedSegmentSum on cpu", () => {
  it("equals the stock (quadratic) kernel and the float64 reference on random rows and ids", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 2 }),
        fc.integer({ min: 1, max: 7 }),
        fc.nat(1000),
        (rows, inner, numSegments, seed) => {
          const ids = Array.from(seededValues(rows, seed), (v) => Math.floor(((v + 1) / 2) * (numSegments + 2)) - 1)
          const x = seededTensor([rows, ...inner], seed + 1)
          const run = () => take(tf.unsortedSegmentSum(x, tf.tensor1d(ids, "int32"), numSegments))
          const fast = run()
          expectClose(fast, referenceSegmentSum(x.dataSync(), ids, tf.util.sizeFromShape(inner), numSegments), 1e-5)
          expectClose(fast, onStock(run), 1e-5)
          x.dispose()
        },
      ),
      { numRuns: 40, seed: 11 },
    )
  })

  it("keeps int32 sums in int32", () => {
    const out = tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4], "int32"), tf.tensor1d([1, 0, 1, 1], "int32"), 2)
    expect(out.dtype).toBe("int32")
    expect(Array.from(take(out))).toEqual([2, 8])
  })

  it("gives the embedding gradient: rows of dy summed into the gathered rows", () => {
    const table = seededTensor([30, 6], 3)
    const ids = [4, 29, 4, 0, 7, 4, 12, 29]
    const w = seededTensor([8, 6], 4)
    const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d(ids, "int32")), w)))(table)
    expectClose(take(grad), referenceSegmentSum(w.dataSync(), ids, 6, 30), 1e-6)
    tf.dispose([table, w])
  })
})

describe("gradients tfjs lacks, on cpu", () => {
  beforeAll(() => {
    registerFastKernels("cpu")
  })

  it("comparison ops pass zero gradient: relu written as where(x > 0, x, 0) has gradient step(x)", () => {
    const x = tf.tensor1d([-2, -0.5, 0.25, 1, 3])
    const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.where(tf.greater(v, 0), v, tf.zerosLike(v))))(x)
    expect(Array.from(take(grad))).toEqual([0, 0, 1, 1, 1])
    x.dispose()
  })

  it("All, Any and SearchSorted pass zero gradient: d/dx sum(x · cast(op(x))) = cast(op(x))", () => {
    const x = tf.tensor1d([0.5, 1.5, 2.5, 3.5])
    const ops: ReadonlyArray<(v: tf.Tensor) => tf.Tensor> = [
      (v) => tf.any(tf.greater(v, 3)),
      (v) => tf.all(tf.greater(v, 1)),
      (v) => tf.searchSorted(v, tf.tensor1d([1, 3, 0, 2])),
    ]
    for (const op of ops) {
      const factor = take(tf.cast(op(x), "float32"))
      const grad = take(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, tf.cast(op(v), "float32"))))(x))
      expect(Array.from(grad)).toEqual(Array.from(x.dataSync(), (_, i) => factor[factor.length === 1 ? 0 : i]))
    }
    x.dispose()
  })

  it("TopK's gradient matches finite differences", () => {
    const x = tf.tensor2d([0.3, 1.1, -0.4, 0.9, 2.0, -1.3, 0.0, 0.6, 1.5, -0.7, 0.2, 0.8], [2, 6])
    const w = seededTensor([2, 3], 8)
    const f = (v: tf.Tensor) => tf.sum(tf.mul(tf.topk(v, 3).values, w)) as tf.Scalar
    expectClose(take(tf.grad(f)(x)), finiteDifference(f, x, 0.01), 2e-3)
    tf.dispose([x, w])
  })

  it("BatchMatMul's gradient sums over broadcast batch dims (stock tfjs throws on the shape)", () => {
    // The cpu forward is the stock kernel: only the broadcasts it computes right.
    const cases: ReadonlyArray<MatMulCase> = fixedMatMulCases.filter(
      (c) => c.aShape.length !== c.bShape.length && stockBroadcastsCorrectly(c),
    )
    expect(cases.length).toBeGreaterThan(0)
    cases.forEach((c, i) => {
      const a = seededTensor(c.aShape, i)
      const b = seededTensor(c.bShape, i + 1)
      const out = referenceMatMul(new Float32Array(0), new Float32Array(0), c).shape
      const w = seededTensor(out, i + 2)
      const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
        tf.sum(tf.mul(tf.matMul(x, y, c.transposeA, c.transposeB), w)),
      )([a, b])
      expect(da!.shape).toEqual([...c.aShape])
      expect(db!.shape).toEqual([...c.bShape])
      // Finite differences of a bilinear function are exact up to rounding.
      const fa = finiteDifference(
        (x) => tf.sum(tf.mul(tf.matMul(x, b, c.transposeA, c.transposeB), w)) as tf.Scalar,
        a,
        0.05,
      )
      expectClose(take(da!), fa, 2e-3 * (1 + innerSize(c)))
      tf.dispose([a, b, w, db!])
    })
  })
})

describe("registration on cpu", () => {
  it("replaces only UnsortedSegmentSum, says native BLAS is wasm-only, and restores the stock kernel", () => {
    const stock = stockKernel("UnsortedSegmentSum", "cpu")
    const report = registerFastKernels("cpu")
    expect(report.kernels).toEqual(["UnsortedSegmentSum"])
    expect(report.native).toBe(false)
    expect(report.nativeReason).toMatch(/wasm/)
    expect(tf.getKernel("BatchMatMul", "cpu")).toBe(stockKernel("BatchMatMul", "cpu"))
    restoreStockKernels("cpu")
    expect(tf.getKernel("UnsortedSegmentSum", "cpu")).toBe(stock)
    registerFastKernels("cpu")
  })
})
