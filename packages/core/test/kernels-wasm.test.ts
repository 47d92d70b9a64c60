import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import { initBackend } from "../src/index.ts"
import { registerFastKernels, restoreStockKernels, stockKernel } from "../src/kernels/index.ts"
import { loadNative } from "../src/native/addon.ts"
import {
  arbitraryMatMulCase,
  expectClose,
  finiteDifference,
  fixedMatMulCases,
  innerSize,
  type MatMulCase,
  referenceGather,
  referenceMatMul,
  referenceSegmentSum,
  seededTensor,
  seededValues,
  stockBroadcastsCorrectly,
  take,
} from "./kernels-cases.ts"

// One backend per file (tfjs is global state): wasm. Each fast result is checked against a float64 reference and,
// where the stock kernel is right, against the stock kernel computed in the same process just before.

const nativeLoaded = loadNative().addon !== undefined
const modes = [
  { name: "wasm kernels (no native)", enable: () => registerFastKernels("wasm", { native: false }) },
  ...(nativeLoaded ? [{ name: "native OpenBLAS", enable: () => registerFastKernels("wasm") }] : []),
]

/** Runs `fn` on the stock kernels, then puts the fast ones of `enable` back. */
const onStock = <A>(enable: () => unknown, fn: () => A): A => {
  restoreStockKernels("wasm")
  try {
    return fn()
  } finally {
    enable()
  }
}

const matMulOf = (c: MatMulCase, a: Float32Array, b: Float32Array) =>
  take(tf.tidy(() => tf.matMul(tf.tensor(a, [...c.aShape]), tf.tensor(b, [...c.bShape]), c.transposeA, c.transposeB)))

const tolerance = (c: MatMulCase) => 1e-5 * (1 + innerSize(c))

/** op(a) @ op(b) as broadcast multiply + sum: its gradient uses only stock Multiply/Sum/Transpose gradients. */
const compositeMatMul = (a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean) => {
  const swapLast = (x: tf.Tensor) => tf.transpose(x, [...x.shape.slice(0, -2).map((_, i) => i), x.rank - 1, x.rank - 2])
  const a2 = transposeA ? swapLast(a) : a
  const b2 = transposeB ? swapLast(b) : b
  return tf.sum(tf.mul(tf.expandDims(a2, -1), tf.expandDims(b2, -3)), -2)
}

const matMulGradients = (c: MatMulCase, seed: number, product: typeof compositeMatMul) =>
  tf.tidy(() => {
    const a = seededTensor(c.aShape, seed)
    const b = seededTensor(c.bShape, seed + 1)
    const out = tf.matMul(a, b, c.transposeA, c.transposeB)
    const w = seededTensor(out.shape, seed + 2)
    const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(product(x, y, c.transposeA, c.transposeB), w)),
    )([a, b])
    return [da!.dataSync(), db!.dataSync()] as const
  })

beforeAll(async () => {
  await initBackend("wasm")
})

describe.each(modes)("BatchMatMul on wasm with $name", ({ enable }) => {
  beforeAll(() => {
    enable()
  })

  it("equals the float64 reference, and the stock kernel where stock is right, on hand-picked shapes", () => {
    fixedMatMulCases.forEach((c, i) => {
      const a = seededValues(tf.util.sizeFromShape([...c.aShape]), 10 * i)
      const b = seededValues(tf.util.sizeFromShape([...c.bShape]), 10 * i + 1)
      const reference = referenceMatMul(a, b, c)
      const fast = matMulOf(c, a, b)
      expectClose(fast, reference.values, tolerance(c))
      if (stockBroadcastsCorrectly(c))
        expectClose(
          fast,
          onStock(enable, () => matMulOf(c, a, b)),
          tolerance(c),
        )
    })
  })

  it("has the broadcast output shape of NumPy's matmul", () => {
    const c = fixedMatMulCases.find((x) => x.aShape.length === 4 && x.bShape.length === 4)!
    const out = tf.matMul(tf.ones([...c.aShape]), tf.ones([...c.bShape]), c.transposeA, c.transposeB)
    expect(out.shape).toEqual(referenceMatMul(new Float32Array(0), new Float32Array(0), c).shape)
    out.dispose()
  })

  it("equals the float64 reference on random shapes (batches, broadcasts, transposes, sizes 1..24)", () => {
    fc.assert(
      fc.property(arbitraryMatMulCase, fc.nat(1000), (c, seed) => {
        const a = seededValues(tf.util.sizeFromShape([...c.aShape]), seed)
        const b = seededValues(tf.util.sizeFromShape([...c.bShape]), seed + 1)
        expectClose(matMulOf(c, a, b), referenceMatMul(a, b, c).values, tolerance(c))
      }),
      { numRuns: 60, seed: 2024 },
    )
  })

  it("gives the gradients of the broadcast-multiply composite, and of the stock kernel", () => {
    fixedMatMulCases.forEach((c, i) => {
      const [da, db] = matMulGradients(c, 100 + i, tf.matMul)
      const [ra, rb] = matMulGradients(c, 100 + i, compositeMatMul)
      expectClose(da, ra, tolerance(c) * 4)
      expectClose(db, rb, tolerance(c) * 4)
      if (stockBroadcastsCorrectly(c)) {
        const [sa, sb] = onStock(enable, () => matMulGradients(c, 100 + i, tf.matMul))
        expectClose(da, sa, tolerance(c) * 4)
        expectClose(db, sb, tolerance(c) * 4)
      }
    })
  })

  it("returns zeros for an empty inner dimension and an empty result for an empty outer one", () => {
    expect(Array.from(take(tf.matMul(tf.zeros([3, 0]), tf.zeros([0, 2]))))).toEqual([0, 0, 0, 0, 0, 0])
    const empty = tf.matMul(tf.zeros([0, 4]), tf.zeros([4, 5]))
    expect(empty.shape).toEqual([0, 5])
    empty.dispose()
  })

  it("leaves no tensors or heap buffers behind (transposed and batched paths)", () => {
    const backend = tf.backend()
    const a = seededTensor([4, 20, 18], 1) // op(a) = a: [4, 20, 18]; op(a) = aᵀ: [4, 18, 20]
    const b = seededTensor([4, 19, 18], 2) // op(b) = bᵀ: [4, 18, 19]
    const c = seededTensor([4, 20, 19], 3)
    const products = () => {
      tf.matMul(a, b, false, true).dispose()
      tf.matMul(a, c, true, false).dispose()
      tf.matMul(c, a, true, false).dispose()
    }
    products()
    const tensors = tf.memory().numTensors
    const buffers = backend.numDataIds()
    for (let i = 0; i < 5; i++) products()
    expect(tf.memory().numTensors).toBe(tensors)
    expect(backend.numDataIds()).toBe(buffers)
    tf.dispose([a, b, c])
  })
})

describe.each(modes)("_FusedMatMul on wasm with $name", ({ enable }) => {
  beforeAll(() => {
    enable()
  })

  const activations = ["linear", "relu", "relu6", "elu", "sigmoid", "leakyrelu", "prelu"] as const
  const applyReference = (x: tf.Tensor, activation: (typeof activations)[number], alpha: tf.Tensor) => {
    if (activation === "relu") return tf.relu(x)
    if (activation === "relu6") return tf.relu6(x)
    if (activation === "elu") return tf.elu(x)
    if (activation === "sigmoid") return tf.sigmoid(x)
    if (activation === "leakyrelu") return tf.leakyRelu(x, 0.1)
    if (activation === "prelu") return tf.prelu(x, alpha)
    return x
  }

  it("equals act(matMul + bias) for every activation, transposed, batched and plain", () => {
    const cases = [fixedMatMulCases[1]!, fixedMatMulCases[4]!, fixedMatMulCases[9]!, fixedMatMulCases[11]!]
    cases.forEach((c, i) => {
      for (const activation of activations) {
        const [fused, unfused] = tf.tidy(() => {
          const a = seededTensor(c.aShape, i)
          const b = seededTensor(c.bShape, i + 1)
          const plain = tf.matMul(a, b, c.transposeA, c.transposeB)
          const n = plain.shape[plain.rank - 1]!
          const bias = seededTensor([n], i + 2)
          const alpha = tf.fill([n], 0.2)
          const options = { a, b, transposeA: c.transposeA, transposeB: c.transposeB, bias, activation }
          const extra =
            activation === "prelu"
              ? { preluActivationWeights: alpha }
              : activation === "leakyrelu"
                ? { leakyreluAlpha: 0.1 }
                : {}
          return [
            tf.fused.matMul({ ...options, ...extra }).dataSync(),
            applyReference(tf.add(plain, bias), activation, alpha).dataSync(),
          ]
        })
        expectClose(fused, unfused, 1e-5)
      }
    })
  })
})

describe.each(modes)("GatherV2 on wasm with $name", ({ enable }) => {
  beforeAll(() => {
    enable()
  })

  const gatherCases = [
    { x: [10, 6], indices: [4], axis: 0, batchDims: 0 },
    { x: [10, 40], indices: [2, 3], axis: 0, batchDims: 0 },
    { x: [3, 10, 5], indices: [7], axis: 1, batchDims: 0 },
    { x: [3, 10, 5], indices: [3, 4], axis: 1, batchDims: 1 },
    { x: [4, 9], indices: [6], axis: 1, batchDims: 0 },
    { x: [7], indices: [1], axis: 0, batchDims: 0 },
  ]

  it("equals the reference gather, and the stock one where stock is right, on float32, int32 and bool tensors", () => {
    gatherCases.forEach((g, i) => {
      const dim = g.x[g.axis]!
      const idsSize = tf.util.sizeFromShape(g.indices)
      const ids = Int32Array.from(seededValues(idsSize, i), (v) => Math.floor(((v + 1) / 2) * dim))
      for (const dtype of ["float32", "int32", "bool"] as const) {
        const x = tf.cast(tf.mul(seededTensor(g.x, i + 50), 10), dtype)
        const run = () => take(tf.gather(x, tf.tensor(ids, g.indices, "int32"), g.axis, g.batchDims))
        const fast = Array.from(run())
        expect(fast).toEqual(referenceGather(x.dataSync(), g.x, ids, g.indices, g.axis, g.batchDims))
        // Stock wasm gathers wrong rows when batchDims > 0 (it offsets the indices by the wrong batch stride).
        if (g.batchDims === 0) expect(fast).toEqual(Array.from(onStock(enable, run)))
        x.dispose()
      }
    })
  })

  it("throws on an index outside the gathered axis, like stock", () => {
    expect(() => tf.gather(tf.ones([4, 3]), tf.tensor1d([0, 4], "int32"))).toThrow(/not in \[0, 3\]/)
  })

  it("has a working embedding gradient: rows of dy summed into the gathered rows", () => {
    const table = seededTensor([20, 8], 3)
    const ids = [1, 3, 3, 19, 0, 3]
    const w = seededTensor([2, 3, 8], 4)
    const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor2d(ids, [2, 3], "int32")), w)))(table)
    expectClose(take(grad), referenceSegmentSum(w.dataSync(), ids, 8, 20), 1e-6)
    tf.dispose([table, w])
  })
})

describe("UnsortedSegmentSum on wasm (stock wasm has none)", () => {
  beforeAll(() => {
    registerFastKernels("wasm", { native: false })
  })

  it("sums rows into their segments and drops ids outside [0, S)", () => {
    for (const [shape, dtype] of [
      [[9], "float32"],
      [[9, 3], "float32"],
      [[9, 2, 5], "float32"],
      [[9, 4], "int32"],
    ] as const) {
      const ids = [0, 2, 2, -1, 5, 4, 2, 0, 6]
      const x = tf.cast(tf.mul(seededTensor(shape, 9), dtype === "int32" ? 100 : 1), dtype)
      const width = tf.util.sizeFromShape(shape.slice(1))
      const expected = referenceSegmentSum(x.dataSync(), ids, width, 5)
      const out = tf.unsortedSegmentSum(x, tf.tensor1d(ids, "int32"), 5)
      expect(out.shape).toEqual([5, ...shape.slice(1)])
      expect(out.dtype).toBe(dtype)
      expectClose(take(out), expected, 1e-5)
      x.dispose()
    }
  })
})

describe("gradients tfjs lacks, on wasm", () => {
  beforeAll(() => {
    registerFastKernels("wasm", { native: false })
  })

  it("comparison and logical ops pass zero gradient: d/dx where(cond(x), x, 2x) is 1 or 2", () => {
    const x = tf.tensor1d([-1.5, -0.25, 0.5, 2, 3.5])
    const conditions: ReadonlyArray<[string, (v: tf.Tensor) => tf.Tensor]> = [
      ["greater", (v) => tf.greater(v, 0)],
      ["less", (v) => tf.less(v, 0)],
      ["lessEqual", (v) => tf.lessEqual(v, 0.5)],
      ["equal", (v) => tf.equal(v, 2)],
      ["notEqual", (v) => tf.notEqual(v, 2)],
      ["logicalAnd", (v) => tf.logicalAnd(tf.greater(v, 0), tf.less(v, 3))],
      ["logicalOr", (v) => tf.logicalOr(tf.less(v, -1), tf.greater(v, 3))],
      ["logicalXor", (v) => tf.logicalXor(tf.less(v, 1), tf.greater(v, 0))],
      ["logicalNot", (v) => tf.logicalNot(tf.greater(v, 0))],
    ]
    for (const [, condition] of conditions) {
      const mask = take(condition(x))
      const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.where(condition(v), v, tf.mul(v, 2))))(x)
      expect(Array.from(take(grad))).toEqual(Array.from(mask, (m) => (m ? 1 : 2)))
    }
    x.dispose()
  })

  it("TopK's gradient matches finite differences and reaches only the selected positions", () => {
    // Distinct values 0.1 apart, so a step of 0.01 never reorders them: the finite difference is exact.
    const n = 12
    const order = Array.from(seededValues(3 * n, 5), (v, i) => ({ v, i })).sort((p, q) => p.v - q.v)
    const values = new Float32Array(3 * n)
    order.forEach(({ i }, rank) => {
      values[i] = rank * 0.1
    })
    const x = tf.tensor2d(values, [3, n])
    const w = seededTensor([3, 4], 6)
    const f = (v: tf.Tensor) => tf.sum(tf.mul(tf.topk(v, 4).values, w)) as tf.Scalar
    const analytic = take(tf.grad(f)(x))
    expectClose(analytic, finiteDifference(f, x, 0.01), 2e-3)
    expect(Array.from(analytic).filter((g) => g !== 0)).toHaveLength(12)
    tf.dispose([x, w])
  })
})

describe("gather/scatter gradients on wasm", () => {
  it("GatherNd's gradient sums dy into the gathered slices (duplicates add up)", () => {
    const params = seededTensor([4, 3, 2], 12)
    const indices = tf.tensor2d([2, 1, 0, 0, 2, 1, 3, 2], [4, 2], "int32") // 4 index rows into [4, 3]
    const w = seededTensor([4, 2], 13)
    const grad = take(tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.gatherND(p, indices), w)))(params))
    const expected = new Float64Array(24)
    const rows: ReadonlyArray<readonly [number, number]> = [
      [2, 1],
      [0, 0],
      [2, 1],
      [3, 2],
    ]
    const wv = w.dataSync()
    rows.forEach(([i, j], r) => {
      for (let s = 0; s < 2; s++) expected[(i * 3 + j) * 2 + s] = expected[(i * 3 + j) * 2 + s]! + wv[r * 2 + s]!
    })
    expectClose(grad, expected, 1e-6)
    tf.dispose([params, indices, w])
  })

  it("ScatterNd's gradient gathers dy at the scattered positions", () => {
    const indices = tf.tensor2d([3, 0, 3, 5], [4, 1], "int32")
    const updates = seededTensor([4, 2], 14)
    const w = seededTensor([6, 2], 15)
    const grad = take(tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.scatterND(indices, u, [6, 2]), w)))(updates))
    const wv = w.dataSync()
    expect(Array.from(grad)).toEqual([3, 0, 3, 5].flatMap((i) => [wv[i * 2]!, wv[i * 2 + 1]!]))
    tf.dispose([indices, updates, w])
  })
})

describe("registration", () => {
  it("reports the overridden kernels and whether native BLAS is in use, and restores the stock configs", () => {
    const stockMatMul = stockKernel("BatchMatMul", "wasm")
    const report = registerFastKernels("wasm")
    expect(report.kernels).toEqual(
      expect.arrayContaining(["BatchMatMul", "_FusedMatMul", "GatherV2", "UnsortedSegmentSum"]),
    )
    expect(report.native).toBe(nativeLoaded)
    if (!report.native) expect(report.nativeReason).toMatch(/./)
    expect(tf.getKernel("BatchMatMul", "wasm")).not.toBe(stockMatMul)
    expect(tf.getKernel("BatchMatMul", "wasm").setupFunc).toBe(stockMatMul?.setupFunc)
    restoreStockKernels("wasm")
    expect(tf.getKernel("BatchMatMul", "wasm")).toBe(stockMatMul)
    expect(tf.getKernel("UnsortedSegmentSum", "wasm")).toBeUndefined()
    const off = registerFastKernels("wasm", { native: false })
    expect(off.native).toBe(false)
    expect(off.nativeReason).toMatch(/turned off/)
  })
})
