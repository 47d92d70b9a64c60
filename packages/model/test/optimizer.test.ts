import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import { adamWStep, defaultAdamW, globalNorm, initAdamW } from "../src/optimizer.ts"
import { learningRateAt } from "../src/schedule.ts"

beforeAll(async () => {
  await initBackend("cpu")
})

describe("AdamW", () => {
  it("one step equals the closed form: θ − lr·(sign-like m̂/(√v̂+ε) + λθ) with bias correction", () => {
    const p = tf.variable(
      tf.tensor2d([
        [1, -2],
        [3, 0.5],
      ]),
    )
    const params = new Map([["w", p]])
    const state = initAdamW(params)
    const g = tf.tensor2d([
      [0.1, -0.2],
      [0.3, 0.4],
    ])
    const config = { ...defaultAdamW, maxGradNorm: Number.POSITIVE_INFINITY }
    adamWStep(params, new Map([["w", g]]), state, 0.01, config)
    // after one step m̂ = g, v̂ = g², so the update is g/(|g|+ε) ≈ sign(g)
    const expected = [1, -2, 3, 0.5].map((w, i) => {
      const gi = [0.1, -0.2, 0.3, 0.4][i] as number
      return w - 0.01 * (gi / (Math.abs(gi) + 1e-8) + 0.1 * w)
    })
    const got = p.dataSync()
    expected.forEach((e, i) => {
      expect(got[i]).toBeCloseTo(e, 6)
    })
    expect(state.step).toBe(1)
    tf.dispose([p, g])
  })

  it("clipping rescales the gradients to the max norm before the moments see them", () => {
    const p = tf.variable(tf.zeros([3]))
    const params = new Map([["b", p]])
    const state = initAdamW(params)
    const g = tf.tensor1d([3, 4, 0])
    const norm = adamWStep(params, new Map([["b", g]]), state, 0.1, { ...defaultAdamW, maxGradNorm: 1 })
    expect(norm).toBeCloseTo(5, 5)
    const m = state.m.get("b") as Float32Array
    expect(m[0]).toBeCloseTo((1 - 0.9) * (3 / 5), 6)
    expect(m[1]).toBeCloseTo((1 - 0.9) * (4 / 5), 6)
    expect(globalNorm(new Map([["b", g]]))).toBeCloseTo(5, 5)
    tf.dispose([p, g])
  })

  it("vectors (norm weights, biases) are not weight-decayed", () => {
    const p = tf.variable(tf.ones([2]))
    const params = new Map([["n", p]])
    const state = initAdamW(params)
    const g = tf.zeros([2])
    adamWStep(params, new Map([["n", g]]), state, 0.1)
    expect([...p.dataSync()]).toEqual([1, 1])
    tf.dispose([p, g])
  })

  it("minimises a quadratic", () => {
    const p = tf.variable(tf.tensor2d([[5, -3]]))
    const params = new Map([["w", p]])
    const state = initAdamW(params)
    for (let i = 0; i < 300; i++) {
      const { grads, value } = tf.variableGrads(
        () => tf.sum(tf.square(tf.sub(p, tf.tensor2d([[1, 2]])))) as tf.Scalar,
        [p],
      )
      adamWStep(params, new Map([["w", grads[p.name] as tf.Tensor]]), state, 0.05, { ...defaultAdamW, weightDecay: 0 })
      tf.dispose([value, ...Object.values(grads)])
    }
    const [a, b] = p.dataSync()
    expect(a).toBeCloseTo(1, 1)
    expect(b).toBeCloseTo(2, 1)
    tf.dispose([p])
  })
})

describe("learning-rate schedule", () => {
  const c = { peak: 1e-3, floor: 1e-4, warmupSteps: 10, totalSteps: 110 }
  it("rises linearly to the peak over the warm-up, then follows a cosine down to the floor", () => {
    expect(learningRateAt(0, c)).toBeCloseTo(1e-4, 12)
    expect(learningRateAt(9, c)).toBeCloseTo(1e-3, 12)
    expect(learningRateAt(10, c)).toBeCloseTo(1e-3, 12)
    expect(learningRateAt(60, c)).toBeCloseTo(5.5e-4, 12)
    expect(learningRateAt(110, c)).toBeCloseTo(1e-4, 12)
    for (let s = 10; s < 110; s++) expect(learningRateAt(s + 1, c)).toBeLessThanOrEqual(learningRateAt(s, c))
  })
})
