/**
 * The grouped MoE dispatch (sort/gather by expert) must give the same values AND gradients as the plain dense
 * mixture y = Σ_e g_e · Expert_e(x) + Shared(x) over all experts (zero weight off the chosen ones).
 */
import { initBackend, Rng } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { swiGlu } from "../src/ffn.ts"
import { routeTokens } from "../src/gate.ts"
import { type MoeWeights, moe } from "../src/moe.ts"

const config = {
  score_func: "sigmoid" as const,
  route_scale: 2.5,
  n_routed_experts: 4,
  n_activated_experts: 2,
  n_expert_groups: 2,
  n_limited_groups: 1,
}
const rng = Rng.make(5)
const normal = (shape: Array<number>, std = 0.5) =>
  tf.variable(
    tf.tensor(
      rng.normal(
        shape.reduce((a, b) => a * b, 1),
        0,
        std,
      ),
      shape,
    ),
  )
let weights: MoeWeights
let vars: Array<tf.Variable>

beforeAll(async () => {
  await initBackend(process.env.DS_TEST_BACKEND === "cpu" ? "cpu" : "wasm")
  const swiglu = () => ({ w1: normal([6, 8]), w2: normal([8, 6]), w3: normal([6, 8]) })
  weights = {
    gate: { weight: normal([4, 8]), bias: tf.variable(tf.tensor1d([0.1, -0.1, 0.05, 0])) },
    experts: [swiglu(), swiglu(), swiglu(), swiglu()],
    shared: swiglu(),
  }
  vars = [
    weights.gate.weight,
    ...weights.experts.flatMap((e) => [e.w1, e.w2, e.w3]),
    weights.shared?.w1,
    weights.shared?.w2,
    weights.shared?.w3,
  ] as Array<tf.Variable>
})

afterAll(() => tf.dispose(vars))

const denseReference = (x: tf.Tensor3D): tf.Tensor => {
  const [b, t, d] = x.shape
  const flat = x.reshape([b * t, d]) as tf.Tensor2D
  const gate = routeTokens(flat, weights.gate, config)
  const outs = weights.experts.map((e, i) => tf.mul(swiGlu(flat, e), gate.denseWeights.slice([0, i], [-1, 1])))
  return tf.add(tf.addN(outs), swiGlu(flat, weights.shared as NonNullable<MoeWeights["shared"]>)).reshape([b, t, d])
}

describe("MoE dispatch", () => {
  it("values and gradients (router and every expert) equal the dense mixture's", () => {
    const x = tf.tensor3d(rng.normal(2 * 5 * 8, 0, 1), [2, 5, 8])
    const r = tf.tensor3d(rng.normal(2 * 5 * 8, 0, 1), [2, 5, 8])
    const viaDispatch = tf.variableGrads(() => tf.sum(tf.mul(moe(x, weights, config).output, r)) as tf.Scalar, vars)
    const viaDense = tf.variableGrads(() => tf.sum(tf.mul(denseReference(x), r)) as tf.Scalar, vars)
    expect(viaDispatch.value.dataSync()[0]).toBeCloseTo(viaDense.value.dataSync()[0] as number, 4)
    for (const v of vars) {
      const a = viaDispatch.grads[v.name]?.dataSync() as Float32Array
      const b = viaDense.grads[v.name]?.dataSync() as Float32Array
      expect(a.length).toBe(b.length)
      a.forEach((g, i) => {
        expect(g).toBeCloseTo(b[i] as number, 4)
      })
    }
  })
})
