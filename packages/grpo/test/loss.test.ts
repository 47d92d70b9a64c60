import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import { decodeGrpoConfig, type GrpoLossConfig } from "../src/config.ts"
import { aggregateTokenLoss } from "../src/loss/aggregate.ts"
import { grpoLoss, grpoLossStats, grpoLossTerms } from "../src/loss/grpo-loss.ts"
import { k3, unbiasedKl } from "../src/loss/kl.ts"
import { offPolicySequenceMask } from "../src/loss/off-policy-mask.ts"
import { clippedSurrogate, logImportanceRatio } from "../src/loss/surrogate.ts"
import { keptSetMask, sampledTokenLogProbs, tokenEntropy } from "../src/loss/token-log-probs.ts"

beforeAll(async () => {
  await initBackend("cpu")
})

const values = (x: tf.Tensor): Array<number> => Array.from(x.dataSync())
const t2 = (rows: Array<Array<number>>) => tf.tensor2d(rows)
const log = Math.log

const config = (overrides: Partial<GrpoLossConfig> = {}): GrpoLossConfig => ({ ...decodeGrpoConfig({}), ...overrides })

describe("clipped surrogate", () => {
  it("takes min(r·A, clip(r, 1−ε, 1+ε_high)·A) per token", () => {
    const logRatio = t2([
      [log(0.5), 0, log(1.5)],
      [log(0.5), 0, log(1.5)],
    ])
    const pg = clippedSurrogate(logRatio, tf.tensor1d([1, -1]), { low: 0.2, high: 0.28 })
    const [a, b, c, d, e, f] = values(pg)
    // A = +1: r=0.5 -> 0.5 (unclipped is smaller), r=1 -> 1, r=1.5 -> 1.28 (clipped at 1+ε_high)
    expect([a, b, c].map((x) => Number(x?.toFixed(5)))).toEqual([0.5, 1, 1.28])
    // A = −1: r=0.5 -> −0.8 (clipped at 1−ε), r=1 -> −1, r=1.5 -> −1.5
    expect([d, e, f].map((x) => Number(x?.toFixed(5)))).toEqual([-0.8, -1, -1.5])
  })

  it("has zero gradient exactly where the clip is active, r·A elsewhere", () => {
    const logRatio = t2([
      [log(0.5), log(1.5)],
      [log(0.5), log(1.5)],
    ])
    const grad = tf.grad((x: tf.Tensor) =>
      tf.sum(clippedSurrogate(x as tf.Tensor2D, tf.tensor1d([1, -1]), { low: 0.2, high: 0.2 })),
    )(logRatio)
    const [g0, g1, g2, g3] = values(grad)
    expect(g0).toBeCloseTo(0.5, 5) // A>0, r<1−ε: unclipped branch, d(r·A)/dlog r = r·A
    expect(g1).toBe(0) // A>0, r>1+ε: clipped
    expect(g2).toBe(0) // A<0, r<1−ε: clipped
    expect(g3).toBeCloseTo(-1.5, 5) // A<0, r>1+ε: unclipped
  })

  it("at sequence level every token of a row gets the masked mean log-ratio", () => {
    const ratio = logImportanceRatio(t2([[0.2, 0.4, 9]]), t2([[0, 0, 0]]), t2([[1, 1, 0]]), "sequence")
    expect(values(ratio).map((x) => Number(x.toFixed(5)))).toEqual([0.3, 0.3, 0.3])
  })
})

describe("aggregation modes (TRL loss_type)", () => {
  const loss = t2([
    [1, 2, 3],
    [4, 7, 7],
  ])
  const mask = t2([
    [1, 1, 1],
    [1, 0, 0],
  ])
  const at = (type: GrpoLossConfig["lossType"], numItemsInBatch?: number) =>
    aggregateTokenLoss(
      loss,
      mask,
      type,
      numItemsInBatch === undefined ? { maxCompletionLength: 5 } : { maxCompletionLength: 5, numItemsInBatch },
    ).dataSync()[0]

  it("grpo: per-sequence token mean, then mean over sequences (V3.2)", () =>
    expect(at("grpo")).toBeCloseTo((2 + 4) / 2, 6))
  it("bnpo: token mean over the minibatch", () => expect(at("bnpo")).toBeCloseTo(10 / 4, 6))
  it("drGrpo: token sum over N · maxCompletionLength", () => expect(at("drGrpo")).toBeCloseTo(10 / (2 * 5), 6))
  it("dapo: token sum over the optimiser batch's token count", () => {
    expect(at("dapo", 8)).toBeCloseTo(10 / 8, 6)
    expect(at("dapo")).toBeCloseTo(10 / 4, 6)
  })
})

describe("KL to the reference (V3.2 §3.2)", () => {
  const policy = log(0.5)
  const old = log(0.25)
  const ref = log(0.4)
  const k3Value = 0.4 / 0.5 - log(0.4 / 0.5) - 1

  it("k3 and the unbiased estimate (π_θ/π_old)·k3 match hand values", () => {
    expect(k3(t2([[policy]]), t2([[ref]])).dataSync()[0]).toBeCloseTo(k3Value, 6)
    expect(unbiasedKl(t2([[policy]]), t2([[old]]), t2([[ref]])).dataSync()[0]).toBeCloseTo(2 * k3Value, 6)
  })

  it("with π_θ = π_old the ratio is 1 and the corrected KL equals k3", () => {
    const p = t2([[log(0.3), log(0.7), log(0.01)]])
    const r = t2([[log(0.5), log(0.6), log(0.2)]])
    expect(values(unbiasedKl(p, p, r))).toEqual(values(k3(p, r)))
  })

  it("its gradient is (π_θ/π_old)(ℓ_θ − ℓ_ref)∇ℓ_θ, through both factors (finite differences on logits)", () => {
    // ℓ_θ = log softmax(θ)[1]; π_old, π_ref fixed.
    const theta0 = [0.3, -0.2, 0.5, 0.1]
    const oldLp = log(0.2)
    const refLp = log(0.35)
    const lossAt = (theta: tf.Tensor) =>
      tf.tidy(() => {
        const lp = tf.reshape(tf.slice(tf.logSoftmax(theta), [1], [1]), [1, 1]) as tf.Tensor2D
        return tf.sum(unbiasedKl(lp, t2([[oldLp]]), t2([[refLp]]))) as tf.Scalar
      })
    const analytic = values(tf.grad(lossAt)(tf.tensor1d(theta0)))
    // the closed form
    const z = theta0.map(Math.exp)
    const sum = z.reduce((a, b) => a + b, 0)
    const p = z.map((v) => v / sum)
    const lp = log(p[1] ?? 0)
    const gradLogP = p.map((pv, i) => (i === 1 ? 1 : 0) - pv)
    const closed = gradLogP.map((g) => Math.exp(lp - oldLp) * (lp - refLp) * g)
    // central finite differences
    const h = 1e-2
    const numeric = theta0.map((_, i) => {
      const plus = theta0.map((v, j) => (j === i ? v + h : v))
      const minus = theta0.map((v, j) => (j === i ? v - h : v))
      return (
        ((lossAt(tf.tensor1d(plus)).dataSync()[0] ?? 0) - (lossAt(tf.tensor1d(minus)).dataSync()[0] ?? 0)) / (2 * h)
      )
    })
    analytic.forEach((g, i) => {
      expect(g).toBeCloseTo(closed[i] ?? Number.NaN, 5)
      expect(g).toBeCloseTo(numeric[i] ?? Number.NaN, 3)
    })
    // plain k3 would give (1 − π_ref/π_θ)∇ℓ_θ instead: a different vector here
    const k3Grad = gradLogP.map((g) => (1 - Math.exp(refLp - lp)) * g)
    expect(Math.abs((k3Grad[1] ?? 0) - (analytic[1] ?? 0))).toBeGreaterThan(1e-2)
  })
})

describe("off-policy sequence masking (V3.2 §3.1 eq. 8)", () => {
  it("masks iff Â < 0 and the sequence-mean log(π_sampling/π_θ) exceeds δ", () => {
    const policy = t2([
      [-1, -1],
      [-1, -1],
      [-1, -1],
      [-1, -1],
    ])
    const sampling = t2([
      [0, 0], // divergence 1 > 0.5, A < 0: masked
      [-0.8, -0.8], // divergence 0.2 ≤ 0.5: kept
      [0, 0], // divergence 1 but A > 0: kept
      [0, 0], // divergence 1 but A = 0: kept
    ])
    const mask = offPolicySequenceMask(tf.tensor1d([-1, -1, 1, 0]), policy, sampling, tf.onesLike(policy), 0.5)
    expect(values(mask)).toEqual([0, 1, 1, 1])
  })

  it("decides per sequence on the token mean, not per token, and ignores padding", () => {
    const policy = t2([[-1, -1, -1, -1]])
    // one token far off-policy (+3) but the mean over the 3 real tokens is (3 − 0.6 − 0.6)/3 = 0.6; padding says +50
    const sampling = t2([[2, -1.6, -1.6, 49]])
    const mask = t2([[1, 1, 1, 0]])
    expect(values(offPolicySequenceMask(tf.tensor1d([-1]), policy, sampling, mask, 0.7))).toEqual([1])
    expect(values(offPolicySequenceMask(tf.tensor1d([-1]), policy, sampling, mask, 0.5))).toEqual([0])
  })

  it("never masks a sequence with a non-negative advantage (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: -4, max: 4 }).map((a) => a / 2),
            fc.double({ min: -5, max: 0, noNaN: true }),
            fc.double({ min: -5, max: 0, noNaN: true }),
          ),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (rows, delta) => {
          const mask = tf.tidy(() =>
            values(
              offPolicySequenceMask(
                tf.tensor1d(rows.map((r) => r[0])),
                t2(rows.map((r) => [r[1]])),
                t2(rows.map((r) => [r[2]])),
                t2(rows.map(() => [1])),
                delta,
              ),
            ),
          )
          rows.forEach(([a, p, s], i) => {
            if (a >= 0) expect(mask[i]).toBe(1)
            else if (Math.abs(s - p - delta) > 1e-5) expect(mask[i]).toBe(s - p > delta ? 0 : 1) // off the float32 edge
          })
        },
      ),
      { numRuns: 50 },
    )
  })
})

describe("Keep Sampling Mask (V3.2 §3.1)", () => {
  it("renormalises π_θ over the recorded kept set", () => {
    const logits = tf.tensor3d([[[1, 2, 3, 4]]])
    const kept = keptSetMask([[[0, 1]]], 1, 4)
    expect(values(kept)).toEqual([1, 1, 0, 0])
    const lp = sampledTokenLogProbs(logits, tf.tensor2d([[1]], [1, 1], "int32"), kept).dataSync()[0]
    expect(lp).toBeCloseTo(2 - log(Math.exp(1) + Math.exp(2)), 5)
    const full = sampledTokenLogProbs(logits, tf.tensor2d([[1]], [1, 1], "int32"), null).dataSync()[0]
    expect(full).toBeCloseTo(2 - log(Math.exp(1) + Math.exp(2) + Math.exp(3) + Math.exp(4)), 5)
    const p0 = 1 / (1 + Math.E)
    expect(tokenEntropy(logits, kept).dataSync()[0]).toBeCloseTo(-(p0 * log(p0) + (1 - p0) * log(1 - p0)), 5)
  })

  it("a null kept set means the whole vocabulary", () => {
    expect(values(keptSetMask([[null, [2]]], 2, 3))).toEqual([1, 1, 1, 0, 0, 1])
  })
})

describe("the full loss", () => {
  const mask = t2([
    [1, 1],
    [1, 0],
  ])
  it("with π_θ = π_old: loss = −mean_i(Â_i·M_i) + β·mean_i mean_t k3 (grpo aggregation)", () => {
    const policy = t2([
      [log(0.5), log(0.25)],
      [log(0.8), 0],
    ])
    const ref = t2([
      [log(0.4), log(0.25)],
      [log(0.5), 0],
    ])
    const k = (p: number, r: number) => r / p - log(r / p) - 1
    const seqKl = [(k(0.5, 0.4) + 0) / 2, k(0.8, 0.5)]
    const inputs = {
      policyLogps: policy,
      samplingLogps: policy,
      refLogps: ref,
      advantages: tf.tensor1d([1, -0.5]),
      completionMask: mask,
    }
    const loss = grpoLoss(inputs, config({ beta: 0.1 })).dataSync()[0]
    const expected = -(1 + -0.5) / 2 + (0.1 * ((seqKl[0] ?? 0) + (seqKl[1] ?? 0))) / 2
    expect(loss).toBeCloseTo(expected, 6)
    const stats = grpoLossStats(inputs, config({ beta: 0.1 }))
    expect(stats.clipRegion).toBe(0)
    expect(stats.maskedFraction).toBe(0)
    expect(stats.logpDiffMean).toBe(0)
    expect(stats.kl).toBeCloseTo((k(0.5, 0.4) + k(0.8, 0.5)) / 3, 6)
  })

  it("OPSM masks only the policy term: the KL gradient still reaches a masked sequence", () => {
    const policy = t2([[-3, -1]])
    const sampling = t2([[-1, -1.2]]) // divergence (2 − 0.2)/2 = 0.9 > δ; token 2 has r = e^0.2, inside the clip range
    const ref = t2([[-1.5, -1.5]])
    const ones = tf.onesLike(policy)
    const gradFor = (beta: number, delta: number | null) =>
      values(
        tf.grad((p: tf.Tensor) =>
          grpoLoss(
            {
              policyLogps: p as tf.Tensor2D,
              samplingLogps: sampling,
              refLogps: ref,
              advantages: tf.tensor1d([-1]),
              completionMask: ones,
            },
            config({ beta, offPolicyMaskThreshold: delta }),
          ),
        )(policy),
      )
    expect(gradFor(0, 0.5)).toEqual([0, 0]) // policy term masked, no KL
    expect(gradFor(0, null).some((g) => g !== 0)).toBe(true) // OPSM off: the policy term is back
    const withKl = gradFor(0.1, 0.5)
    // d/dℓ_t of β·mean_t r_t·k3_t = β · r_t(ℓ_t − ℓ_ref) / 2
    expect(withKl[0]).toBeCloseTo((0.1 * Math.exp(-2) * (-3 + 1.5)) / 2, 6)
    expect(withKl[1]).toBeCloseTo((0.1 * Math.exp(0.2) * (-1 + 1.5)) / 2, 6)
  })

  it("uses oldLogps for the ratio when given, and samplingLogps for OPSM", () => {
    const policy = t2([[-1]])
    const terms = grpoLossTerms(
      {
        policyLogps: policy,
        samplingLogps: t2([[0]]),
        oldLogps: t2([[-1]]),
        advantages: tf.tensor1d([-1]),
        completionMask: t2([[1]]),
      },
      config({ offPolicyMaskThreshold: 0.5 }),
    )
    expect(terms.logRatio.dataSync()[0]).toBe(0) // ratio from oldLogps
    expect(terms.sequenceMask.dataSync()[0]).toBe(0) // divergence from samplingLogps: 0 − (−1) = 1 > 0.5
  })

  it("beta > 0 without reference log-probs is a config error", () => {
    const p = t2([[-1]])
    expect(() =>
      grpoLoss(
        { policyLogps: p, samplingLogps: p, advantages: tf.tensor1d([1]), completionMask: t2([[1]]) },
        config({ beta: 0.1 }),
      ),
    ).toThrow(/refLogps/)
  })

  it("shape errors name the argument", () => {
    const p = t2([[-1, -1]])
    expect(() =>
      grpoLoss(
        { policyLogps: p, samplingLogps: t2([[-1]]), advantages: tf.tensor1d([1]), completionMask: p },
        config(),
      ),
    ).toThrow(/samplingLogps/)
  })

  it("does not leak tensors", () => {
    const p = t2([[-1, -2]])
    const inputs = {
      policyLogps: p,
      samplingLogps: p,
      refLogps: p,
      advantages: tf.tensor1d([1]),
      completionMask: tf.onesLike(p) as tf.Tensor2D,
    }
    grpoLoss(inputs, config({ beta: 0.1 })).dispose()
    grpoLossStats(inputs, config({ beta: 0.1 }))
    const before = tf.memory().numTensors
    for (let i = 0; i < 3; i++) {
      grpoLoss(inputs, config({ beta: 0.1 })).dispose()
      grpoLossStats(inputs, config({ beta: 0.1 }))
    }
    expect(tf.memory().numTensors).toBe(before)
  })
})

describe("each V3.2 stabiliser in the loss changes it when switched off, and only when it acts", () => {
  const mask = t2([
    [1, 1],
    [1, 1],
  ])
  const sampling = t2([
    [log(0.5), log(0.5)],
    [log(0.6), log(0.4)],
  ])
  // Row 0 drifted: mean_t(ℓ_sampling − ℓ_θ) = log(0.5/0.2) ≈ 0.92; row 1 is on-policy.
  const drifted = t2([
    [log(0.2), log(0.2)],
    [log(0.6), log(0.4)],
  ])
  const ref = t2([
    [log(0.3), log(0.3)],
    [log(0.5), log(0.5)],
  ])
  const loss = (inputs: Parameters<typeof grpoLoss>[0], overrides: Partial<GrpoLossConfig>) =>
    grpoLoss(inputs, config(overrides)).dataSync()[0] ?? Number.NaN

  it("OPSM: off differs from on when a negative-advantage sequence drifted past δ; equal when none qualifies", () => {
    const acting = {
      policyLogps: drifted,
      samplingLogps: sampling,
      advantages: tf.tensor1d([-1, 1]),
      completionMask: mask,
    }
    expect(loss(acting, { offPolicyMaskThreshold: null })).not.toBeCloseTo(
      loss(acting, { offPolicyMaskThreshold: 0.5 }),
      4,
    )
    const positive = { ...acting, advantages: tf.tensor1d([1, -1]) } // the drifted row has Â > 0: never masked
    expect(loss(positive, { offPolicyMaskThreshold: null })).toBeCloseTo(
      loss(positive, { offPolicyMaskThreshold: 0.5 }),
      6,
    )
  })

  it("unbiased KL: differs from plain k3 once π_θ ≠ π_old; equal at π_θ = π_old", () => {
    const advantages = tf.tensor1d([0, 0])
    const off = { policyLogps: drifted, samplingLogps: sampling, refLogps: ref, advantages, completionMask: mask }
    const common = { beta: 0.5, offPolicyMaskThreshold: null }
    expect(loss(off, { ...common, klEstimator: "unbiased" })).not.toBeCloseTo(
      loss(off, { ...common, klEstimator: "k3" }),
      4,
    )
    const on = { ...off, policyLogps: sampling }
    expect(loss(on, { ...common, klEstimator: "unbiased" })).toBeCloseTo(loss(on, { ...common, klEstimator: "k3" }), 6)
  })

  it("dapo divides by the optimiser batch's token count, so with it dapo ≠ bnpo; without it they agree", () => {
    const inputs = {
      policyLogps: drifted,
      samplingLogps: sampling,
      advantages: tf.tensor1d([1, -1]),
      completionMask: mask,
    }
    const bnpo = loss(inputs, { lossType: "bnpo" })
    expect(loss(inputs, { lossType: "dapo" })).toBeCloseTo(bnpo, 6)
    expect(loss({ ...inputs, numItemsInBatch: 8 }, { lossType: "dapo" })).toBeCloseTo((bnpo * 4) / 8, 6)
  })
})
