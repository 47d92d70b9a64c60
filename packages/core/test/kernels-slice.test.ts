import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import { initBackend } from "../src/index.ts"
import { registerFastKernels, restoreStockKernels } from "../src/kernels/index.ts"
import { copySlice } from "../src/kernels/slice.ts"
import { seededValues } from "./kernels-cases.ts"

// Slice and SplitV on wasm (src/kernels/slice.ts). Laws: out[i] = x[begin + i] for every index (a plain index
// reference); the fast kernel equals the stock wasm kernel and the cpu backend bit for bit, for float32, int32 and
// bool, ranks 1-6, empty sizes; the gradients of concat and split (which run Slice/SplitV) are unchanged; and the
// fast kernels never read a tensor back to the host.

type DType = "float32" | "int32" | "bool"

interface SliceCase {
  readonly shape: ReadonlyArray<number>
  readonly begin: ReadonlyArray<number>
  readonly size: ReadonlyArray<number>
  readonly dtype: DType
  readonly seed: number
}

const arbitrarySliceCase: fc.Arbitrary<SliceCase> = fc
  .integer({ min: 1, max: 6 })
  .chain((rank) => fc.array(fc.integer({ min: 0, max: rank > 4 ? 4 : 6 }), { minLength: rank, maxLength: rank }))
  .chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      cuts: fc.tuple(
        ...shape.map((d) => fc.tuple(fc.integer({ min: 0, max: d }), fc.integer({ min: 0, max: d }))),
      ) as fc.Arbitrary<Array<[number, number]>>,
      dtype: fc.constantFrom<DType>("float32", "int32", "bool"),
      seed: fc.integer({ min: 0, max: 1000 }),
    }),
  )
  .map(({ shape, cuts, dtype, seed }) => ({
    shape,
    begin: cuts.map(([a, b]) => Math.min(a, b)),
    size: cuts.map(([a, b]) => Math.abs(a - b)),
    dtype,
    seed,
  }))

const valuesOf = (dtype: DType, length: number, seed: number): Float32Array | Int32Array | Uint8Array => {
  const base = seededValues(length, seed)
  if (dtype === "float32") return base
  if (dtype === "int32") return Int32Array.from(base, (v) => Math.round(v * 1e6))
  return Uint8Array.from(base, (v) => (v > 0 ? 1 : 0))
}

/** out[i] = x[begin + i], index by index. */
const referenceSlice = (c: SliceCase, x: ArrayLike<number>): Array<number> => {
  const strides = c.shape.map((_, j) => c.shape.slice(j + 1).reduce((p, d) => p * d, 1))
  const out: Array<number> = []
  const total = c.size.reduce((p, d) => p * d, 1)
  for (let n = 0; n < total; n++) {
    let rest = n
    let from = 0
    for (let j = c.shape.length - 1; j >= 0; j--) {
      const i = rest % (c.size[j] as number)
      rest = Math.floor(rest / (c.size[j] as number))
      from += ((c.begin[j] as number) + i) * (strides[j] as number)
    }
    out.push(x[from] as number)
  }
  return out
}

const sliceOf = (c: SliceCase) =>
  tf.tidy(() => {
    const x = tf.tensor(valuesOf(c.dtype, tf.util.sizeFromShape([...c.shape]), c.seed), [...c.shape], c.dtype)
    const out = tf.slice(x, [...c.begin], [...c.size])
    return { shape: out.shape, dtype: out.dtype, values: Array.from(out.dataSync()) }
  })

/** Runs `fn` on the stock wasm kernels, then puts the fast ones back. */
const onStock = <A>(fn: () => A): A => {
  restoreStockKernels("wasm")
  try {
    return fn()
  } finally {
    registerFastKernels("wasm", { native: false })
  }
}

/** Runs `fn` on the cpu backend (stock kernels), then comes back to wasm. */
const onCpu = async <A>(fn: () => A): Promise<A> => {
  await tf.setBackend("cpu")
  try {
    return fn()
  } finally {
    await tf.setBackend("wasm")
  }
}

beforeAll(async () => {
  await initBackend("wasm")
  registerFastKernels("wasm", { native: false })
})

describe("copySlice (the heap copy)", () => {
  it("copies runs of a [2, 3, 4] slice into place, whole-axis suffixes folded into one run", () => {
    const heap = Int32Array.from({ length: 24 + 8 }, (_, i) => (i < 24 ? i : -1))
    copySlice(heap, 0, [2, 3, 4], [1, 1, 0], [1, 2, 4], 24)
    expect(Array.from(heap.subarray(24))).toEqual([16, 17, 18, 19, 20, 21, 22, 23])
  })
})

describe("Slice on wasm", () => {
  it("registers over the stock Slice and SplitV", () => {
    expect(registerFastKernels("wasm", { native: false }).kernels).toEqual(expect.arrayContaining(["Slice", "SplitV"]))
  })

  it("equals the index reference and the stock kernel on random shapes, ranks 1-6, empty sizes, all dtypes", () => {
    fc.assert(
      fc.property(arbitrarySliceCase, (c) => {
        const fast = sliceOf(c)
        const stock = onStock(() => sliceOf(c))
        const x = valuesOf(c.dtype, tf.util.sizeFromShape([...c.shape]), c.seed)
        expect(fast.shape).toEqual([...c.size])
        expect(fast.dtype).toBe(c.dtype)
        expect(fast.values).toEqual(referenceSlice(c, x))
        expect(fast).toEqual(stock)
      }),
      { numRuns: 150 },
    )
  })

  it("equals the cpu backend on random shapes", async () => {
    const cases = fc.sample(arbitrarySliceCase, { numRuns: 60, seed: 13 })
    const fast = cases.map(sliceOf)
    const cpu = await onCpu(() => cases.map(sliceOf))
    expect(fast).toEqual(cpu)
  })

  it("takes -1 sizes as tfjs does", () => {
    const fast = tf.tidy(() =>
      Array.from(tf.slice(tf.range(0, 24).reshape([2, 3, 4]), [0, 1, 2], [-1, -1, 1]).dataSync()),
    )
    expect(fast).toEqual([6, 10, 18, 22])
  })

  it("never reads a tensor back to the host (stock reads the whole input)", () => {
    const backend = tf.backend() as unknown as { readSync: (dataId: object) => unknown }
    const original = backend.readSync
    let reads = 0
    backend.readSync = function (this: unknown, dataId: object) {
      reads += 1
      return original.call(this, dataId)
    }
    try {
      const x = tf.ones([2, 3, 4, 5, 6])
      tf.tidy(() => [tf.slice(x, [0, 1, 0, 2, 1], [2, 2, 4, 3, 4]), ...tf.split(x, [2, 4], 4), tf.slice(x, [1], [1])])
      expect(reads).toBe(0)
      onStock(() => tf.tidy(() => tf.slice(x, [0, 1, 0, 2, 1], [2, 2, 4, 3, 4])))
      expect(reads).toBeGreaterThan(0)
      x.dispose()
    } finally {
      backend.readSync = original
    }
  })
})

describe("SplitV on wasm", () => {
  const arbitrarySplit = fc
    .integer({ min: 1, max: 5 })
    .chain((rank) =>
      fc.record({
        shape: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: rank, maxLength: rank }),
        axis: fc.integer({ min: 0, max: rank - 1 }),
        dtype: fc.constantFrom<DType>("float32", "int32", "bool"),
        seed: fc.integer({ min: 0, max: 1000 }),
        cuts: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 4 }),
      }),
    )
    .map(({ shape, axis, dtype, seed, cuts }) => {
      // Piece sizes summing to shape[axis] (zero-size pieces included).
      const total = shape[axis] as number
      const bounds = [...cuts.map((c) => Math.min(c, total)), 0, total].sort((a, b) => a - b)
      const sizes = bounds.slice(1).map((b, i) => b - (bounds[i] as number))
      return { shape, axis, dtype, seed, sizes }
    })

  const splitOf = (c: { shape: Array<number>; axis: number; dtype: DType; seed: number; sizes: Array<number> }) =>
    tf.tidy(() => {
      const x = tf.tensor(valuesOf(c.dtype, tf.util.sizeFromShape(c.shape), c.seed), c.shape, c.dtype)
      return tf.split(x, c.sizes, c.axis).map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()) }))
    })

  it("equals the stock kernel and the cpu backend on random splits", async () => {
    const cases = fc.sample(arbitrarySplit, { numRuns: 80, seed: 7 })
    const fast = cases.map(splitOf)
    expect(fast).toEqual(onStock(() => cases.map(splitOf)))
    expect(fast).toEqual(await onCpu(() => cases.map(splitOf)))
  })
})

describe("gradients through concat and split", () => {
  const gradientsOf = (seed: number) =>
    tf.tidy(() => {
      const a = tf.tensor(seededValues(2 * 3 * 4 * 5 * 2, seed), [2, 3, 4, 5, 2])
      const b = tf.tensor(seededValues(2 * 3 * 4 * 3 * 2, seed + 1), [2, 3, 4, 3, 2])
      const w = tf.tensor(seededValues(2 * 3 * 4 * 8 * 2, seed + 2), [2, 3, 4, 8, 2])
      const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.concat([x, y], 3), w)))([a, b])
      const v = tf.tensor(seededValues(6 * 7, seed + 3), [6, 7])
      const w1 = tf.tensor(seededValues(6 * 3, seed + 4), [6, 3])
      const w2 = tf.tensor(seededValues(6 * 4, seed + 5), [6, 4])
      const dv = tf.grad((x: tf.Tensor) => {
        const [p, q] = tf.split(x, [3, 4], 1)
        return tf.add(tf.sum(tf.mul(p as tf.Tensor, w1)), tf.sum(tf.mul(q as tf.Tensor, w2)))
      })(v)
      return {
        da: Array.from(da!.dataSync()),
        db: Array.from(db!.dataSync()),
        dv: Array.from(dv.dataSync()),
        // d/da Σ concat(a, b)·w = w[..., :5, :], d/db = w[..., 5:, :]; d/dv of the split = concat(w1, w2).
        wa: Array.from(tf.slice(w, [0, 0, 0, 0, 0], [-1, -1, -1, 5, -1]).dataSync()),
        wb: Array.from(tf.slice(w, [0, 0, 0, 5, 0], [-1, -1, -1, 3, -1]).dataSync()),
        w12: Array.from(tf.concat([w1, w2], 1).dataSync()),
      }
    })

  it("the concat gradient is the matching slice of the upstream gradient; split's is their concat; = stock", () => {
    const fast = gradientsOf(3)
    expect(fast.da).toEqual(onStock(() => gradientsOf(3)).da)
    expect(fast).toEqual(onStock(() => gradientsOf(3)))
    expect(fast.da).toEqual(fast.wa)
    expect(fast.db).toEqual(fast.wb)
    expect(fast.dv).toEqual(fast.w12)
  })
})
