import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import { initBackend } from "../src/index.ts"
import { registerFastKernels, restoreStockKernels } from "../src/kernels/index.ts"
import { seededValues } from "./kernels-cases.ts"

// Tile, Concat and the broadcasting comparisons on wasm (src/kernels/layout-copy.ts), and Identity (identity.ts). Laws: each equals the stock
// wasm kernel and the cpu backend bit for bit on random shapes (ranks 0-5, zero sizes, float32/int32/bool,
// broadcasting either side, NaN and ties for comparisons); gradients through tile and concat are unchanged; and
// none of them reads a tensor back to the host.

type DType = "float32" | "int32" | "bool"

const valuesOf = (dtype: DType, length: number, seed: number): Float32Array | Int32Array | Uint8Array => {
  // Coarse values so comparisons see ties; one NaN in float32 inputs of 5 or more elements.
  const base = Float32Array.from(seededValues(length, seed), (v) => Math.round(v * 3))
  if (dtype === "float32") {
    if (length >= 5) base[seed % length] = Number.NaN
    return base
  }
  if (dtype === "int32") return Int32Array.from(base)
  return Uint8Array.from(base, (v) => (v > 0 ? 1 : 0))
}

const tensorOf = (shape: ReadonlyArray<number>, dtype: DType, seed: number) =>
  tf.tensor(valuesOf(dtype, tf.util.sizeFromShape([...shape]), seed), [...shape], dtype)

const read = (t: tf.Tensor) => ({ shape: t.shape, dtype: t.dtype, values: Array.from(t.dataSync()) })

const onStock = <A>(fn: () => A): A => {
  restoreStockKernels("wasm")
  try {
    return fn()
  } finally {
    registerFastKernels("wasm", { native: false })
  }
}

const onCpu = async <A>(fn: () => A): Promise<A> => {
  await tf.setBackend("cpu")
  try {
    return fn()
  } finally {
    await tf.setBackend("wasm")
  }
}

/** The fast result equals stock wasm and cpu on every case. */
const agreesEverywhere = async <C>(cases: ReadonlyArray<C>, run: (c: C) => tf.TensorContainer) => {
  const fast = cases.map((c) => tf.tidy(() => run(c)))
  expect(fast).toEqual(onStock(() => cases.map((c) => tf.tidy(() => run(c)))))
  expect(fast).toEqual(await onCpu(() => cases.map((c) => tf.tidy(() => run(c)))))
}

type Compare = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor
const compare: Record<string, Compare> = {
  equal: tf.equal,
  notEqual: tf.notEqual,
  less: tf.less,
  lessEqual: tf.lessEqual,
  greater: tf.greater,
  greaterEqual: tf.greaterEqual,
}

const shapeOf = (rank: number) => fc.array(fc.integer({ min: 0, max: 4 }), { minLength: rank, maxLength: rank })
const dtypes = fc.constantFrom<DType>("float32", "int32", "bool")

beforeAll(async () => {
  await initBackend("wasm")
  registerFastKernels("wasm", { native: false })
})

describe("fast Tile, Concat and comparisons on wasm", () => {
  it("registers over the stock kernels", () => {
    expect(registerFastKernels("wasm", { native: false }).kernels).toEqual(
      expect.arrayContaining(["Tile", "Concat", "Equal", "Less", "GreaterEqual"]),
    )
  })

  it("Tile equals stock wasm and cpu on random shapes and reps (ranks 1-5, zero sizes)", async () => {
    const arbitrary = fc.integer({ min: 1, max: 5 }).chain((rank) =>
      fc.record({
        shape: shapeOf(rank),
        reps: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: rank, maxLength: rank }),
        dtype: dtypes,
        seed: fc.nat(1000),
      }),
    )
    const cases = fc.sample(arbitrary, { numRuns: 80, seed: 3 })
    await agreesEverywhere(cases, (c) => read(tf.tile(tensorOf(c.shape, c.dtype, c.seed), c.reps)))
  })

  it("Concat equals stock wasm and cpu on random pieces along any axis", async () => {
    const arbitrary = fc.integer({ min: 1, max: 5 }).chain((rank) =>
      fc.record({
        shape: shapeOf(rank),
        axis: fc.integer({ min: 0, max: rank - 1 }),
        sizes: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 4 }),
        dtype: dtypes,
        seed: fc.nat(1000),
      }),
    )
    const cases = fc.sample(arbitrary, { numRuns: 80, seed: 5 })
    await agreesEverywhere(cases, (c) => {
      const pieces = c.sizes.map((size, m) =>
        tensorOf(
          c.shape.map((d, j) => (j === c.axis ? size : d)),
          c.dtype,
          c.seed + m,
        ),
      )
      return read(tf.concat(pieces, c.axis))
    })
  })

  it("comparisons equal stock wasm and cpu with broadcasting either side, ties and NaN", async () => {
    const arbitrary = fc.integer({ min: 0, max: 5 }).chain((rank) =>
      fc.record({
        shape: shapeOf(rank),
        // Per axis: 0 both full, 1 a broadcasts, 2 b broadcasts; a leading-axes cut for rank broadcasting.
        pattern: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: rank, maxLength: rank }),
        dropA: fc.integer({ min: 0, max: rank }),
        op: fc.constantFrom(...Object.keys(compare)),
        dtype: dtypes,
        seed: fc.nat(1000),
      }),
    )
    const cases = fc.sample(arbitrary, { numRuns: 120, seed: 9 })
    await agreesEverywhere(cases, (c) => {
      const a = c.shape.map((d, j) => (c.pattern[j] === 1 ? 1 : d)).slice(c.dropA)
      const b = c.shape.map((d, j) => (c.pattern[j] === 2 ? 1 : d))
      return read((compare[c.op] as Compare)(tensorOf(a, c.dtype, c.seed), tensorOf(b, c.dtype, c.seed + 1)))
    })
  })

  it("gradients through tile, concat and max (which runs Equal) equal the stock kernels", () => {
    const gradients = () =>
      tf.tidy(() => {
        const x = tf.tensor(seededValues(2 * 3 * 4, 11), [2, 3, 4])
        const y = tf.tensor(seededValues(2 * 3 * 2, 12), [2, 3, 2])
        const [gx, gy] = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
          tf.sum(tf.mul(tf.max(tf.concat([tf.tile(p, [1, 2, 1]), tf.tile(q, [1, 2, 2])], -1), -1), tf.range(1, 7))),
        )([x, y])
        return [read(gx as tf.Tensor), read(gy as tf.Tensor)]
      })
    expect(gradients()).toEqual(onStock(gradients))
  })

  it("Identity shares the data: a clone outlives its source and both free exactly once", () => {
    const before = tf.memory().numBytes
    const x = tf.tensor([1, 2, 3, 4], [2, 2])
    const y = tf.clone(x)
    const z = tf.grad((v: tf.Tensor) => tf.sum(tf.add(v, v)))(x)
    x.dispose()
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4])
    expect(Array.from(z.dataSync())).toEqual([2, 2, 2, 2])
    tf.dispose([y, z])
    expect(tf.memory().numBytes).toBe(before)
    expect(Array.from(onStock(() => tf.tidy(() => tf.clone(tf.range(0, 3)).dataSync())))).toEqual([0, 1, 2])
  })

  it("never reads a tensor back to the host", () => {
    const backend = tf.backend() as unknown as { readSync: (dataId: object) => unknown }
    const original = backend.readSync
    let reads = 0
    backend.readSync = function (this: unknown, dataId: object) {
      reads += 1
      return original.call(this, dataId)
    }
    try {
      const x = tf.ones([2, 3, 4, 1, 2])
      const y = tf.zeros([2, 3, 4, 1, 1])
      tf.tidy(() => [tf.tile(x, [1, 2, 1, 3, 1]), tf.concat([x, y], -1), tf.equal(x, y), tf.less(y, x.sum(-1, true))])
      expect(reads).toBe(0)
      tf.dispose([x, y])
    } finally {
      backend.readSync = original
    }
  })
})
