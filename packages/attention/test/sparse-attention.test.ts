/**
 * Sparse MLA attention (docs/attention.md §6): it gathers only the selected rows and must equal the dense masked
 * attention over the same set; −1 slots are ignored and the order of the indices in a row does not matter.
 */
import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import {
  denseMlaAttention,
  indicesToMask,
  registerFusedAttentionKernels,
  scatterAddRows,
  sparseMlaAttention,
  sparseMlaAttentionReference,
} from "../src/index.ts"
import { expectClose } from "./helpers.ts"

beforeAll(async () => {
  await initBackend("wasm")
})

const shape = { batch: 2, tokens: 3, heads: 4, keys: 9, width: 7, valueDim: 5 }
const scale = 0.3

const randomInputs = (seed: number) => ({
  q: tf.randomNormal([shape.batch, shape.tokens, shape.heads, shape.width], 0, 1, "float32", seed) as tf.Tensor4D,
  kv: tf.randomNormal([shape.batch, shape.keys, shape.width], 0, 1, "float32", seed + 1) as tf.Tensor3D,
})

/** Row (b, t) of an index tensor built from a JS function of (b, t). */
const indexTensor = (row: (b: number, t: number) => Array<number>): tf.Tensor3D => {
  const rows = Array.from({ length: shape.batch }, (_, b) => Array.from({ length: shape.tokens }, (_, t) => row(b, t)))
  return tf.tensor3d(rows, undefined, "int32")
}

describe("sparseMlaAttention", () => {
  it("equals dense attention when the indices cover every allowed key (k >= length), prefill-shaped causal rows", () => {
    tf.tidy(() => {
      const { q, kv } = randomInputs(1)
      // query t of sequence b sees keys 0 .. 4 + t (a causal prefix); k = 9 ≥ every prefix, padded with −1
      const prefix = (t: number) => 5 + t
      const indices = indexTensor((_, t) => Array.from({ length: shape.keys }, (_, i) => (i < prefix(t) ? i : -1)))
      const allowed = tf.tensor3d(
        Array.from({ length: shape.batch }, () =>
          Array.from({ length: shape.tokens }, (_, t) => Array.from({ length: shape.keys }, (_, s) => s < prefix(t))),
        ),
        undefined,
        "bool",
      )
      const sparse = sparseMlaAttention(q, kv, indices, scale, shape.valueDim)
      const dense = denseMlaAttention(q, kv, allowed, scale, shape.valueDim)
      expectClose(sparse.output, dense.output, 1e-6, 1e-6)
      expectClose(sparse.lse, dense.lse, 1e-6, 1e-6)
    })
  })

  it("equals dense attention for a decode row over the whole cache", () => {
    tf.tidy(() => {
      const { q, kv } = randomInputs(2)
      const q1 = tf.slice(q, [0, 0, 0, 0], [-1, 1, -1, -1]) as tf.Tensor4D
      const indices = tf.tensor3d(
        [[Array.from({ length: shape.keys }, (_, i) => i)], [Array.from({ length: shape.keys }, (_, i) => i)]],
        undefined,
        "int32",
      )
      const sparse = sparseMlaAttention(q1, kv, indices, scale, shape.valueDim)
      const dense = denseMlaAttention(
        q1,
        kv,
        tf.ones([shape.batch, 1, shape.keys], "bool") as tf.Tensor3D,
        scale,
        shape.valueDim,
      )
      expectClose(sparse.output, dense.output, 1e-6, 1e-6)
      expectClose(sparse.lse, dense.lse, 1e-6, 1e-6)
    })
  })

  it("a selected subset equals dense attention masked to that subset, and −1 slots are ignored", () => {
    tf.tidy(() => {
      const { q, kv } = randomInputs(3)
      const subset = (b: number, t: number) =>
        [(b + t) % 9, (3 * t + 1) % 9, (5 + b) % 9].filter((v, i, a) => a.indexOf(v) === i)
      const padded = indexTensor((b, t) => [...subset(b, t), -1, -1, -1].slice(0, 5))
      const tight = indexTensor((b, t) => [...subset(b, t), ...Array(3 - subset(b, t).length).fill(-1)])
      const dense = denseMlaAttention(q, kv, indicesToMask(tight, shape.keys), scale, shape.valueDim)
      const withPadding = sparseMlaAttention(q, kv, padded, scale, shape.valueDim)
      expectClose(withPadding.output, dense.output, 1e-6, 1e-6)
      expectClose(withPadding.lse, dense.lse, 1e-6, 1e-6)
    })
  })

  it("a row of only −1 gives output 0 and lse −∞", () => {
    tf.tidy(() => {
      const { q, kv } = randomInputs(4)
      const indices = indexTensor((b, t) => (b === 1 && t === 2 ? [-1, -1] : [0, 1]))
      const { output, lse } = sparseMlaAttention(q, kv, indices, scale, shape.valueDim)
      const row = tf.slice(output, [1, 2, 0, 0], [1, 1, -1, -1])
      expect(Array.from(row.dataSync()).every((v) => v === 0)).toBe(true)
      expect(
        Array.from(tf.slice(lse, [1, 2, 0], [1, 1, -1]).dataSync()).every((v) => v === Number.NEGATIVE_INFINITY),
      ).toBe(true)
      expect(Array.from(tf.slice(lse, [0, 0, 0], [1, 1, -1]).dataSync()).every(Number.isFinite)).toBe(true)
    })
  })

  it("permuting the indices within a row changes nothing (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.array(fc.integer({ min: -1, max: 8 }), { minLength: 4, maxLength: 4 }),
        (seed, rawRow) => {
          tf.tidy(() => {
            const { q, kv } = randomInputs(seed)
            const row = rawRow.map((v, i) => (v >= 0 && rawRow.indexOf(v) !== i ? -1 : v))
            const shuffled = [...row.slice(1), row[0] as number].reverse()
            const a = sparseMlaAttention(
              q,
              kv,
              indexTensor(() => row),
              scale,
              shape.valueDim,
            )
            const b = sparseMlaAttention(
              q,
              kv,
              indexTensor(() => shuffled),
              scale,
              shape.valueDim,
            )
            expectClose(a.output, b.output, 1e-6, 1e-6)
            expectClose(a.lse, b.lse, 1e-6, 1e-6)
          })
        },
      ),
      { numRuns: 15, seed: 7 },
    )
  })

  it("a registered fast kernel is used for the forward pass and an absent one falls back to the reference", () => {
    tf.tidy(() => {
      const { q, kv } = randomInputs(5)
      const indices = indexTensor(() => [0, 2, 4])
      const reference = sparseMlaAttentionReference(q, kv, indices, scale, shape.valueDim)
      let calls = 0
      registerFusedAttentionKernels({
        sparseAttention: (qq, kk, ii, s, v) => {
          calls++
          return sparseMlaAttentionReference(qq, kk, ii, s, v)
        },
      })
      const fused = sparseMlaAttention(q, kv, indices, scale, shape.valueDim)
      registerFusedAttentionKernels({ sparseAttention: () => undefined })
      const declined = sparseMlaAttention(q, kv, indices, scale, shape.valueDim)
      registerFusedAttentionKernels({})
      expect(calls).toBe(1)
      expectClose(fused.output, reference.output, 0, 0)
      expectClose(declined.output, reference.output, 0, 0)
    })
  })

  it("the gradient scatter sums updates that land on the same row", () => {
    tf.tidy(() => {
      const updates = tf.tensor2d([
        [1, 2],
        [3, 4],
        [5, 6],
        [7, 8],
      ])
      const summed = scatterAddRows(updates, tf.tensor1d([2, 0, 2, 2], "int32"), 4)
      expectClose(
        summed,
        tf.tensor2d([
          [3, 4],
          [0, 0],
          [13, 16],
          [0, 0],
        ]),
        0,
        0,
      )
    })
  })

  it("rejects mismatched shapes with a ShapeError naming the argument", () => {
    const { q, kv } = randomInputs(6)
    const wrongKv = tf.zeros([shape.batch, shape.keys, shape.width + 1]) as tf.Tensor3D
    const floatIndices = tf.zeros([shape.batch, shape.tokens, 2]) as tf.Tensor3D
    expect(() => sparseMlaAttention(q, wrongKv, floatIndices.cast("int32"), scale, shape.valueDim)).toThrow(
      /sparseMlaAttention kv/,
    )
    expect(() => sparseMlaAttention(q, kv, floatIndices, scale, shape.valueDim)).toThrow(/dtype int32/)
    expect(() => sparseMlaAttention(q, kv, floatIndices.cast("int32"), scale, shape.width + 1)).toThrow(/valueDim/)
    tf.dispose([q, kv, wrongKv, floatIndices])
  })
})
