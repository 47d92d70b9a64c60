/**
 * Exact top-k over each query's causal prefix (docs/attention.md §4): the k largest scores among positions < rowLength,
 * −1 in empty slots; the JS radix select returns the same sets as the tensor reference.
 */
import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import { radixTopK, topkIndices } from "../src/index.ts"
import { indexSets } from "./helpers.ts"

beforeAll(async () => {
  await initBackend("wasm")
})

/** The k largest of row[0..n−1] by a full sort (ties to the lower index), as a sorted set string. */
const bruteForce = (row: ArrayLike<number>, n: number, k: number): string =>
  Array.from({ length: n }, (_, i) => i)
    .sort((a, b) => (row[b] as number) - (row[a] as number) || a - b)
    .slice(0, k)
    .sort((a, b) => a - b)
    .join(",")

const distinctRows = fc.record({
  rows: fc.integer({ min: 1, max: 4 }),
  keys: fc.integer({ min: 1, max: 40 }),
  k: fc.integer({ min: 1, max: 12 }),
  seed: fc.integer({ min: 0, max: 1 << 20 }),
})

/** Distinct float32 scores (a shuffled ramp with random signs and magnitudes). */
const distinctScores = (count: number, seed: number): Float32Array => {
  let state = seed + 1
  const random = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state / 2 ** 31
  }
  const values = Array.from({ length: count }, (_, i) => (i + 1) * (random() < 0.5 ? -1 : 1) * 10 ** (4 * random() - 2))
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[values[i], values[j]] = [values[j] as number, values[i] as number]
  }
  return Float32Array.from(values)
}

describe("topkIndices", () => {
  it("returns the k largest scores of each row's prefix, −1 in the slots a short prefix leaves empty (property)", () => {
    fc.assert(
      fc.property(distinctRows, ({ rows, keys, k, seed }) => {
        const scores = distinctScores(rows * keys, seed)
        const lengths = Int32Array.from({ length: rows }, (_, r) => 1 + ((seed + 7 * r) % keys))
        tf.tidy(() => {
          const indices = topkIndices(tf.tensor3d(scores, [1, rows, keys]), tf.tensor2d(lengths, [1, rows], "int32"), k)
          expect(indices.shape).toEqual([1, rows, Math.min(k, keys)])
          const values = indices.dataSync()
          const width = Math.min(k, keys)
          for (let r = 0; r < rows; r++) {
            const n = lengths[r] as number
            const row = Array.from(values.slice(r * width, (r + 1) * width))
            expect(row.filter((v) => v === -1)).toHaveLength(width - Math.min(k, n))
          }
          expect(indexSets(indices)).toEqual(
            Array.from(lengths, (n, r) => bruteForce(scores.subarray(r * keys, (r + 1) * keys), n, k)),
          )
        })
      }),
      { numRuns: 40, seed: 3 },
    )
  })

  it("radix select returns the same sets as the tensor reference (property)", () => {
    fc.assert(
      fc.property(distinctRows, ({ rows, keys, k, seed }) => {
        const scores = distinctScores(rows * keys, seed)
        const lengths = Int32Array.from({ length: rows }, (_, r) => 1 + ((seed + 3 * r) % keys))
        const radix = radixTopK(scores, keys, lengths, k)
        tf.tidy(() => {
          const reference = topkIndices(
            tf.tensor3d(scores, [1, rows, keys]),
            tf.tensor2d(lengths, [1, rows], "int32"),
            k,
          )
          expect(indexSets(tf.tensor3d(radix, [1, rows, Math.min(k, keys)], "int32"))).toEqual(indexSets(reference))
        })
      }),
      { numRuns: 60, seed: 4 },
    )
  })

  it("radix select is exact on a 131072-key row with k = 2048, and breaks ties towards the lower index", () => {
    const keys = 131072
    const scores = distinctScores(keys, 99)
    const radix = radixTopK(scores, keys, Int32Array.of(keys), 2048)
    expect(
      Array.from(radix)
        .sort((a, b) => a - b)
        .join(","),
    ).toBe(bruteForce(scores, keys, 2048))
    const ties = Float32Array.of(1, 5, 5, 5, 0, 5)
    expect(Array.from(radixTopK(ties, 6, Int32Array.of(6), 3)).sort((a, b) => a - b)).toEqual([1, 2, 3])
    expect(Array.from(radixTopK(Float32Array.of(-0, 0, -1, -2), 4, Int32Array.of(4), 2)).sort()).toEqual([0, 1])
  })

  it("passes no gradient to the scores and rejects k < 1", () => {
    const scores = tf.randomNormal([1, 2, 5]) as tf.Tensor3D
    const lengths = tf.tensor2d([[3, 5]], [1, 2], "int32")
    const grad = tf.grad((s: tf.Tensor) => tf.sum(topkIndices(s as tf.Tensor3D, lengths, 2).cast("float32")))(scores)
    expect(Array.from(grad.dataSync()).every((v) => v === 0)).toBe(true)
    expect(() => topkIndices(scores, lengths, 0)).toThrow(/k/)
    tf.dispose([scores, lengths, grad])
  })
})
