import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import { keptTokens, logProbOverKept, sampleToken, tokenLogProbs } from "../src/sampler.ts"

beforeAll(async () => {
  await initBackend("cpu")
})

const logitsArb = fc.array(fc.float({ min: -8, max: 8, noNaN: true }), { minLength: 2, maxLength: 40 })
const optionsArb = fc.record({
  temperature: fc.oneof(fc.constant(0), fc.double({ min: 0.1, max: 2, noNaN: true })),
  topK: fc.integer({ min: 0, max: 10 }),
  topP: fc.double({ min: 0.05, max: 1, noNaN: true }),
})

describe("sampler", () => {
  it("the recorded log-prob equals a recomputation over the recorded kept set, and the token is in that set", () => {
    fc.assert(
      fc.property(logitsArb, optionsArb, fc.double({ min: 0, max: 0.999999, noNaN: true }), (logits, options, u) => {
        const s = sampleToken(logits, options, u)
        expect(s.kept.includes(s.token)).toBe(true)
        expect(s.logProb).toBeCloseTo(logProbOverKept(logits, s.token, s.kept, options.temperature), 9)
        expect(s.logProb).toBeLessThanOrEqual(0)
      }),
      { numRuns: 200 },
    )
  })

  it("top-k keeps the k largest logits; top-p keeps the smallest prefix by probability reaching p", () => {
    const logits = [0, 3, 1, 2, -1]
    expect([...keptTokens(logits, { temperature: 1, topK: 2 })]).toEqual([1, 3])
    const p = tf.tidy(() => tf.softmax(tf.tensor1d(logits)).arraySync()) as Array<number>
    const top2 = (p[1] as number) + (p[3] as number)
    expect([...keptTokens(logits, { temperature: 1, topP: top2 - 1e-6 })]).toEqual([1, 3])
    expect([...keptTokens(logits, { temperature: 1, topP: top2 + 1e-6 })]).toEqual([1, 2, 3])
    expect([...keptTokens(logits, { temperature: 0 })]).toEqual([1])
  })

  it("empirical frequencies follow the processed distribution", () => {
    const logits = [1, 2, 0.5, -3]
    const options = { temperature: 0.8, topK: 3 }
    const kept = keptTokens(logits, options)
    const counts = new Map<number, number>()
    const n = 4000
    for (let i = 0; i < n; i++) {
      const s = sampleToken(logits, options, (i + 0.5) / n)
      counts.set(s.token, (counts.get(s.token) ?? 0) + 1)
    }
    expect(counts.has(3)).toBe(false)
    for (const id of kept)
      expect((counts.get(id) ?? 0) / n).toBeCloseTo(Math.exp(logProbOverKept(logits, id, kept, 0.8)), 2)
  })

  it("the differentiable log-prob under a kept mask equals the sampler's, and its gradient is finite", () => {
    const rows = [
      [0.5, 2, -1, 3, 0],
      [1, 1, 1, 0, -2],
    ]
    const options = { temperature: 0.7, topP: 0.8 }
    const samples = rows.map((r, i) => sampleToken(r, options, 0.3 + 0.4 * i))
    const logits = tf.variable(tf.tensor2d(rows))
    const tokens = Int32Array.from(samples.map((s) => s.token))
    const kept = samples.map((s) => s.kept)
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tokenLogProbs(logits, tokens, kept, 0.7)) as tf.Scalar,
      [logits],
    )
    expect(value.dataSync()[0]).toBeCloseTo(
      samples.reduce((a, s) => a + s.logProb, 0),
      5,
    )
    expect([...(grads[logits.name]?.dataSync() ?? [])].every(Number.isFinite)).toBe(true)
    tf.dispose([logits, value, ...Object.values(grads)])
  })
})
