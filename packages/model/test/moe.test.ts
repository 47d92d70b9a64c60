import { readFileSync } from "node:fs"
import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import { decodeModelConfig } from "../src/config.ts"
import { routeTokens } from "../src/gate.ts"
import { type MoeWeights, moe, planDispatch } from "../src/moe.ts"
import { allcloseExcess, floats, goldenFile, ints, readGolden, readGoldenModel, rowSets } from "./golden-fixture.ts"

beforeAll(async () => {
  await initBackend("cpu")
})

const moeWeightsFrom = (
  get: (name: string) => tf.Tensor,
  prefix: string,
  experts: number,
  shared: boolean,
): MoeWeights => {
  const swiglu = (p: string) => ({ w1: get(`${p}.w1.weight`), w2: get(`${p}.w2.weight`), w3: get(`${p}.w3.weight`) })
  return {
    gate: { weight: get(`${prefix}.gate.weight`), bias: get(`${prefix}.gate.bias`) },
    experts: Array.from({ length: experts }, (_, e) => swiglu(`${prefix}.experts.${e}`)),
    ...(shared ? { shared: swiglu(`${prefix}.shared_experts`) } : {}),
  }
}

describe("DeepSeekMoE against the reference (golden/base)", () => {
  it("the gate picks the reference's expert sets and weights, and the MoE output matches ffn_out, for every MoE call", async () => {
    const config = decodeModelConfig(JSON.parse(readFileSync(goldenFile("config.json"), "utf8")))
    const golden = await readGolden()
    const model = await readGoldenModel()
    const tensors = new Map([...model].map(([name, t]) => [name, tf.tensor(floats(t), [...t.shape])]))
    const get = (name: string) => tensors.get(name) as tf.Tensor
    for (const call of ["prefill", "decode0", "decode5"]) {
      for (let layer = config.n_dense_layers; layer < config.n_layers; layer++) {
        const key = `${call}.layers.${layer}`
        const input = golden.get(`${key}.gate.input`)
        const x = tf.tensor2d(floats(input), [input?.shape[0] as number, config.dim])
        const weights = moeWeightsFrom(get, `layers.${layer}.ffn`, config.n_routed_experts, config.n_shared_experts > 0)
        const gate = routeTokens(x, weights.gate, config)
        expect(rowSets(gate.indices, config.n_activated_experts)).toEqual(
          rowSets(ints(golden.get(`${key}.gate.indices`)), config.n_activated_experts),
        )
        expect(
          allcloseExcess(gate.denseWeights.dataSync(), floats(golden.get(`${key}.gate.dense_weights`))),
        ).toBeLessThanOrEqual(0)
        const out = golden.get(`${key}.ffn_out`)
        const result = moe(x.reshape(out?.shape as [number, number, number]) as tf.Tensor3D, weights, config)
        expect(allcloseExcess(result.output.dataSync(), floats(out))).toBeLessThanOrEqual(0)
        tf.dispose([x, gate.scores, gate.denseWeights, result.output, result.denseWeights])
      }
    }
    tf.dispose([...tensors.values()])
  })
})

/** Ties make the top-k order implementation-defined; the law is checked away from them. */
const wellSeparated = (xs: ReadonlyArray<number>): boolean => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted.every((v, i) => i === 0 || v - (sorted[i - 1] as number) > 1e-4)
}

describe("routing", () => {
  const config = decodeModelConfig({
    dim: 8,
    n_routed_experts: 8,
    n_activated_experts: 2,
    n_expert_groups: 4,
    n_limited_groups: 2,
    score_func: "sigmoid",
    route_scale: 2.5,
    moe_inter_dim: 4,
    q_lora_rank: 4,
  })

  it("chosen experts lie in the n_limited_groups groups with the best top-2 biased sums, and are the top-K there", () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -3, max: 3, noNaN: true }), { minLength: 8 * 3, maxLength: 8 * 3 }),
        fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: 8, maxLength: 8 }),
        (xs, bias) => {
          const x = tf.tensor2d(xs, [3, 8])
          const gate = { weight: tf.eye(8), bias: tf.tensor1d(bias) }
          const out = routeTokens(x, gate, config)
          const s = tf.sigmoid(x).arraySync() as Array<Array<number>>
          for (let t = 0; t < 3; t++) {
            const b = (s[t] as Array<number>).map((v, e) => v + (bias[e] as number))
            const groupScore = [0, 1, 2, 3].map((g) => b.slice(2 * g, 2 * g + 2).reduce((p, q) => p + q, 0))
            if (!wellSeparated(b) || !wellSeparated(groupScore)) continue
            const bestGroups = [0, 1, 2, 3]
              .sort((p, q) => (groupScore[q] as number) - (groupScore[p] as number))
              .slice(0, 2)
            const allowed = bestGroups.flatMap((g) => [2 * g, 2 * g + 1])
            const expected = allowed
              .sort((p, q) => (b[q] as number) - (b[p] as number))
              .slice(0, 2)
              .sort()
            expect([...out.indices.slice(2 * t, 2 * t + 2)].sort()).toEqual(expected)
            const w = out.denseWeights.arraySync()[t] as Array<number>
            const sum = expected.reduce((acc, e) => acc + (s[t]?.[e] as number), 0)
            for (const e of expected) expect(w[e]).toBeCloseTo((2.5 * (s[t]?.[e] as number)) / sum, 5)
          }
          tf.dispose([x, gate.weight, gate.bias, out.scores, out.denseWeights])
        },
      ),
      { numRuns: 30 },
    )
  })

  it("the bias changes which experts are chosen but never the weights' source: weights use the unbiased scores", () => {
    const x = tf.tensor2d([[3, 2, 1, 0, 0, 0, 0, 0]])
    const gate = { weight: tf.eye(8), bias: tf.tensor1d([0, 0, 0, 5, 0, 0, 0, 0]) }
    const out = routeTokens(x, gate, config)
    expect([...out.indices].sort()).toEqual([0, 3])
    const s = tf.sigmoid(x).dataSync()
    const w = out.denseWeights.dataSync()
    expect(w[3]).toBeCloseTo((2.5 * (s[3] as number)) / ((s[0] as number) + (s[3] as number)), 6)
    tf.dispose([x, gate.weight, gate.bias, out.scores, out.denseWeights])
  })

  it("softmax scoring keeps the raw probabilities times route_scale (no renormalisation)", () => {
    const softmaxConfig = { ...config, score_func: "softmax" as const }
    const x = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8]])
    const gate = { weight: tf.eye(8), bias: tf.zeros([8]) }
    const out = routeTokens(x, gate, softmaxConfig)
    const p = tf.softmax(x).dataSync()
    expect([...out.indices].sort()).toEqual([6, 7])
    expect(out.denseWeights.dataSync()[7]).toBeCloseTo(2.5 * (p[7] as number), 6)
    tf.dispose([x, gate.weight, gate.bias, out.scores, out.denseWeights])
  })

  it("forced ids (Keep Routing) are used as given, weights recomputed from the router, and gradients reach the router", () => {
    const x = tf.tensor2d([
      [1, 2, 3, 4, 5, 6, 7, 8],
      [1, 0, 0, 0, 0, 0, 0, 0],
    ])
    const weight = tf.variable(tf.eye(8))
    const forced = Int32Array.from([0, 5, -1, -1])
    const gate = { weight, bias: tf.zeros([8]) }
    const { value, grads } = tf.variableGrads(() => {
      const out = routeTokens(x, gate, config, forced)
      expect([...out.indices]).toEqual([0, 5, -1, -1])
      const w = out.denseWeights
      return tf.sum(tf.mul(w, tf.range(0, 16).reshape([2, 8]))) as tf.Scalar
    }, [weight])
    expect(Number.isFinite(value.dataSync()[0])).toBe(true)
    const g = grads[weight.name]?.dataSync() as Float32Array
    expect(Math.max(...g.map(Math.abs))).toBeGreaterThan(0)
    tf.dispose([x, weight, gate.bias, value, ...Object.values(grads)])
  })
})

describe("dispatch plan", () => {
  it("groups every routed (token, slot) pair contiguously by expert and maps each slot back to its row", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 5 }),
        fc.infiniteStream(fc.integer({ min: -1, max: 4 })),
        (n, k, e, stream) => {
          const ids = Int32Array.from({ length: n * k }, () => Math.min(stream.next().value as number, e - 1))
          const plan = planDispatch(ids, n, k, e)
          const routed = [...ids].filter((v) => v >= 0).length
          expect(plan.tokenOrder.length).toBe(routed)
          for (let t = 0; t < n; t++) {
            for (let j = 0; j < k; j++) {
              const id = ids[t * k + j] as number
              const row = plan.slotRow[t * k + j] as number
              if (id < 0) expect(row).toBe(routed)
              else {
                expect(plan.tokenOrder[row]).toBe(t)
                expect(row).toBeGreaterThanOrEqual(plan.offsets[id] as number)
                expect(row).toBeLessThan(plan.offsets[id + 1] as number)
                expect(plan.weightIndex[row]).toBe(t * e + id)
              }
            }
          }
        },
      ),
      { numRuns: 50 },
    )
  })
})
