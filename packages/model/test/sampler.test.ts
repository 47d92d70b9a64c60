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

/**
 * The straightforward reference: sort the whole vocabulary by (logit desc, id asc), cut top-k, then the shortest
 * prefix whose mass (renormalised over the top-k set, total summed in ascending id order) reaches top_p.
 * Returns the full kept set (ascending ids) — the implementation under test returns null for "nothing cut".
 */
const referenceKept = (logits: ReadonlyArray<number>, o: { temperature: number; topK: number; topP: number }) => {
  const v = logits.length
  const ranked = Array.from({ length: v }, (_, i) => i).sort(
    (a, b) => (logits[b] as number) - (logits[a] as number) || a - b,
  )
  if (o.temperature === 0) return [ranked[0] as number]
  const k = o.topK > 0 ? Math.min(o.topK, v) : v
  const top = ranked.slice(0, k)
  let size = k
  if (o.topP < 1) {
    const max = logits[ranked[0] as number] as number
    const mass = (id: number) => Math.exp(((logits[id] as number) - max) / o.temperature)
    const total = [...top].sort((a, b) => a - b).reduce((t, id) => t + mass(id), 0)
    let cumulative = 0
    size = 0
    while (size < k) {
      cumulative += mass(top[size] as number) / total
      size++
      if (cumulative >= o.topP) break
    }
  }
  return top.slice(0, Math.max(1, size)).sort((a, b) => a - b)
}

/** Reference log q over a kept set (ascending ids): log softmax(logits[K] / τ). */
const referenceLogProbs = (logits: ReadonlyArray<number>, kept: ReadonlyArray<number>, tau: number) => {
  if (tau === 0) return kept.map(() => 0)
  const z = kept.map((id) => (logits[id] as number) / tau)
  const max = Math.max(...z)
  const lse = max + Math.log(z.reduce((t, x) => t + Math.exp(x - max), 0))
  return z.map((x) => x - lse)
}

/** Logits with many ties (small integer grid) as well as continuous ones, vocabularies past the 64-id first prefix. */
const wideLogitsArb = fc.oneof(
  fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 300 }),
  fc.array(fc.double({ min: -8, max: 8, noNaN: true }), { minLength: 1, maxLength: 600 }),
  fc.array(fc.double({ min: -0.05, max: 0.05, noNaN: true }), { minLength: 100, maxLength: 1200 }),
)
const wideOptionsArb = fc.record({
  temperature: fc.oneof(fc.constant(0), fc.double({ min: 0.05, max: 3, noNaN: true })),
  topK: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 700 })),
  topP: fc.oneof(fc.constant(1), fc.double({ min: 0.01, max: 1, noNaN: true })),
})

/** The pre-selection sampler's draw: inverse CDF over the full kept set in ascending id order. */
const referenceDraw = (kept: ReadonlyArray<number>, logQ: ReadonlyArray<number>, u: number): number => {
  let cumulative = 0
  for (let i = 0; i < kept.length; i++) {
    cumulative += Math.exp(logQ[i] as number)
    if (u < cumulative) return kept[i] as number
  }
  return kept[kept.length - 1] as number
}

describe("sampler selection without sorting the vocabulary", () => {
  it("kept set and log-probs equal the sorting reference; null exactly when nothing is cut; same seeded draw", () => {
    fc.assert(
      fc.property(wideLogitsArb, wideOptionsArb, fc.double({ min: 0, max: 0.999999, noNaN: true }), (logits, o, u) => {
        const expected = referenceKept(logits, o)
        const kept = keptTokens(logits, o)
        if (expected.length === logits.length) expect(kept).toBeNull()
        else expect(kept === null ? null : [...kept]).toEqual(expected)
        const s = sampleToken(logits, o, u)
        expect(s.kept === null ? null : [...s.kept]).toEqual(kept === null ? null : [...kept])
        const logQ = referenceLogProbs(logits, expected, o.temperature)
        const at = expected.indexOf(s.token)
        expect(at).toBeGreaterThanOrEqual(0)
        expect(s.logProb).toBeCloseTo(logQ[at] as number, 9)
        expect(s.logProb).toBeCloseTo(logProbOverKept(logits, s.token, s.kept, o.temperature), 12)
        if (o.temperature > 0) expect(s.token).toBe(referenceDraw(expected, logQ, u))
      }),
      { numRuns: 400 },
    )
  })

  it("ties at the cut go to the lower id, as a stable sort by descending logit would", () => {
    expect([...(keptTokens([1, 2, 2, 2, 0], { temperature: 1, topK: 2 }) ?? [])]).toEqual([1, 2])
    expect([...(keptTokens([5, 5, 5], { temperature: 0 }) ?? [])]).toEqual([0])
    // Equal mass: top_p = 0.5 over four equal logits reaches 0.5 after the two lowest ids.
    expect([...(keptTokens([0, 0, 0, 0], { temperature: 1, topP: 0.5 }) ?? [])]).toEqual([0, 1])
  })

  it("a 128K vocabulary with top-k and a peaked top-p is selected without a full sort and equals the reference", () => {
    const v = 131072
    const logits = Array.from({ length: v }, (_, i) => Math.sin(i * 12.9898) * 4 + (i % 997 === 0 ? 20 : 0))
    for (const o of [
      { temperature: 0.6, topK: 50, topP: 1 },
      { temperature: 0.6, topK: 0, topP: 0.95 },
      { temperature: 1, topK: 40, topP: 0.9 },
    ])
      expect([...(keptTokens(logits, o) ?? [])]).toEqual(referenceKept(logits, o))
    expect(keptTokens(logits, { temperature: 1 })).toBeNull()
    expect(keptTokens(logits, { temperature: 1, topK: v })).toBeNull()
  })
})

describe("sampler", () => {
  it("the recorded log-prob equals a recomputation over the recorded kept set, and the token is in that set", () => {
    fc.assert(
      fc.property(logitsArb, optionsArb, fc.double({ min: 0, max: 0.999999, noNaN: true }), (logits, options, u) => {
        const s = sampleToken(logits, options, u)
        expect(s.kept === null || s.kept.includes(s.token)).toBe(true)
        expect(s.logProb).toBeCloseTo(logProbOverKept(logits, s.token, s.kept, options.temperature), 9)
        expect(s.logProb).toBeLessThanOrEqual(0)
      }),
      { numRuns: 200 },
    )
  })

  it("top-k keeps the k largest logits; top-p keeps the smallest prefix by probability reaching p", () => {
    const logits = [0, 3, 1, 2, -1]
    expect([...(keptTokens(logits, { temperature: 1, topK: 2 }) ?? [])]).toEqual([1, 3])
    const p = tf.tidy(() => tf.softmax(tf.tensor1d(logits)).arraySync()) as Array<number>
    const top2 = (p[1] as number) + (p[3] as number)
    expect([...(keptTokens(logits, { temperature: 1, topP: top2 - 1e-6 }) ?? [])]).toEqual([1, 3])
    expect([...(keptTokens(logits, { temperature: 1, topP: top2 + 1e-6 }) ?? [])]).toEqual([1, 2, 3])
    expect([...(keptTokens(logits, { temperature: 0 }) ?? [])]).toEqual([1])
  })

  it("empirical frequencies follow the processed distribution", () => {
    const logits = [1, 2, 0.5, -3]
    const options = { temperature: 0.8, topK: 3 }
    const kept = keptTokens(logits, options) ?? Int32Array.from(logits, (_, i) => i)
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
