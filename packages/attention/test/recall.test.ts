/**
 * Attention recall@k (docs/attention.md §12): the dense attention mass inside the selected set, averaged over the
 * weighted query rows. Checked on a hand example and against a brute-force sum, and by its defining law: no
 * selection of k keys has more recall than the k keys the attention itself weighs most.
 */
import { initBackend, Rng } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import { attentionRecall, attentionRecallRows } from "../src/index.ts"

beforeAll(async () => {
  await initBackend("wasm")
})

/** A random distribution per row ([rows, keys], rows sum to 1) from `seed`. */
const distributions = (rows: number, keys: number, seed: number): Float32Array => {
  const u = Rng.make(seed).uniform(rows * keys)
  const out = Float32Array.from(u, (x) => Math.exp(6 * x))
  for (let r = 0; r < rows; r++) {
    let sum = 0
    for (let s = 0; s < keys; s++) sum += out[r * keys + s] as number
    for (let s = 0; s < keys; s++) out[r * keys + s] = (out[r * keys + s] as number) / sum
  }
  return out
}

describe("attentionRecall", () => {
  it("sums the target over the selected keys (−1 slots ignored) and averages the weighted rows", () => {
    const target = tf.tensor3d([1, 0, 0, 0.2, 0.5, 0.3], [1, 2, 3])
    const indices = tf.tensor3d([0, -1, 1, 2], [1, 2, 2], "int32")
    expect(Array.from(attentionRecallRows(target, indices).dataSync())).toEqual([1, expect.closeTo(0.8, 6)])
    expect(attentionRecall(target, indices)).toBeCloseTo(0.9, 6)
    expect(attentionRecall(target, indices, [0, 1])).toBeCloseTo(0.8, 6)
    expect(attentionRecall(target, indices, [0, 0])).toBeNaN()
    expect(() => attentionRecall(target, indices, [1])).toThrow(/2 row weights/)
    tf.dispose([target, indices])
  })

  it("the target's own top-k has the largest recall of any k keys, and equals the brute-force sum", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 2, max: 30 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 1 << 20 }),
        (rows, keys, k0, seed) => {
          const k = Math.min(k0, keys)
          const p = distributions(rows, keys, seed)
          const target = tf.tensor3d(p, [1, rows, keys])
          const best = tf.topk(target, k).indices as tf.Tensor3D
          const other = Int32Array.from({ length: rows * k }, (_, i) => {
            const r = Math.floor(i / k)
            return Rng.make(seed).fork(r).permutation(keys)[i % k] as number
          })
          const random = tf.tensor3d(other, [1, rows, k], "int32")
          const bestRecall = attentionRecall(target, best)
          const randomRecall = attentionRecall(target, random)
          let brute = 0
          for (let i = 0; i < rows * k; i++) brute += p[Math.floor(i / k) * keys + (other[i] as number)] as number
          tf.dispose([target, best, random])
          expect(randomRecall).toBeCloseTo(brute / rows, 5)
          expect(bestRecall).toBeGreaterThanOrEqual(randomRecall - 1e-6)
          if (k === keys) expect(bestRecall).toBeCloseTo(1, 5)
        },
      ),
      { numRuns: 40 },
    )
  })
})
