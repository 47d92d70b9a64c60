import { initBackend, Rng } from "@ds/core"
import { byteTokenizer, decodeModelConfig, disposeParameters, initParameters, type Model } from "@ds/model"
import * as tf from "@tensorflow/tfjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { collateRollouts } from "../src/rollout/collate.ts"
import { sampleRollouts } from "../src/rollout/rollouts.ts"
import { policyLogProbs } from "../src/trainer/policy-log-probs.ts"

const config = decodeModelConfig({
  vocab_size: 263,
  dim: 32,
  inter_dim: 48,
  moe_inter_dim: 16,
  n_layers: 2,
  n_dense_layers: 1,
  n_heads: 2,
  n_routed_experts: 4,
  n_shared_experts: 1,
  n_activated_experts: 2,
  n_expert_groups: 1,
  n_limited_groups: 1,
  score_func: "sigmoid",
  route_scale: 1,
  q_lora_rank: 16,
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 4,
  v_head_dim: 8,
  index_n_heads: 2,
  index_head_dim: 8,
  index_topk: 32,
  max_seq_len: 32,
  original_seq_len: 32,
})

const tokenizer = byteTokenizer()
let model: Model

beforeAll(async () => {
  await initBackend("wasm")
  model = { config, params: initParameters(config, 11) }
  // Larger weights than the init so the distributions are far from uniform and top-p truncates.
  for (const [name, p] of model.params) if (name.endsWith(".weight") && p.rank === 2) p.assign(tf.mul(p, 6))
})

afterAll(() => disposeParameters(model.params))

const prompts = ["12+3=", "7*8=", "hello"].map((text, i) => ({
  id: `p${i}`,
  text,
  tokens: tokenizer.encode(text),
  metadata: {},
}))

const rollouts = (temperature: number, sampling: { topP: number; topK: number } = { topP: 0.8, topK: 20 }) =>
  sampleRollouts(model, tokenizer, prompts, {
    numGenerations: 3,
    maxNewTokens: 6,
    sampling: { temperature, ...sampling },
    stopTokens: [],
    recordRouting: true,
    recordKeptTokens: true,
    idPrefix: "t",
    rng: Rng.make(5),
  })

describe("replaying the sampling conditions (Keep Routing + Keep Sampling Mask)", () => {
  it("with unchanged weights the training forward reproduces the recorded log-probs", () => {
    const records = rollouts(0.9)
    expect(records.length).toBe(9)
    expect(records.some((r) => (r.keptTokens ?? []).some((set) => set !== null && set.length < 263))).toBe(true) // top-p truncated
    const batch = collateRollouts(records)
    const replayed = policyLogProbs(model, batch, { keepRouting: true, keepSamplingMask: true, temperature: 0.9 })
    const logps = replayed.logps.dataSync()
    const mask = batch.completionMask
    let maxDiff = 0
    for (let i = 0; i < logps.length; i++)
      if ((mask[i] ?? 0) > 0) maxDiff = Math.max(maxDiff, Math.abs((logps[i] ?? 0) - (batch.samplingLogps[i] ?? 0)))
    expect(maxDiff).toBeLessThan(1e-4)
    // the forward used exactly the recorded experts at every real position
    const recorded = batch.routedExperts?.[0] ?? new Int32Array()
    const used = replayed.routing[0] ?? new Int32Array()
    for (let i = 0; i < recorded.length; i++) if ((recorded[i] ?? -1) >= 0) expect(used[i]).toBe(recorded[i])
    tf.dispose([replayed.logps, replayed.entropy])
  })

  it("without the sampling mask π_θ is not renormalised over the kept set, so truncated steps differ", () => {
    const batch = collateRollouts(rollouts(0.9))
    const unmasked = policyLogProbs(model, batch, { keepRouting: true, keepSamplingMask: false, temperature: 0.9 })
    const logps = unmasked.logps.dataSync()
    let truncatedSteps = 0
    batch.keptTokens?.forEach((row, n) => {
      row.forEach((set, t) => {
        const i = n * batch.completionLength + t
        if (set === null || (batch.completionMask[i] ?? 0) === 0 || set.length === 263) return
        truncatedSteps++
        // the full-vocabulary probability is strictly smaller than the renormalised one
        expect(logps[i] ?? 0).toBeLessThan((batch.samplingLogps[i] ?? 0) - 1e-4)
      })
    })
    expect(truncatedSteps).toBeGreaterThan(0)
    tf.dispose([unmasked.logps, unmasked.entropy])
  })

  it("records hold the prompt, G completions per prompt, one log-prob and kept set per token, P + C − 1 routed positions", () => {
    const records = rollouts(1)
    records.forEach((r, i) => {
      expect(r.groupId).toBe(`t/p${Math.floor(i / 3)}`)
      expect(r.promptTokens).toEqual(prompts[Math.floor(i / 3)]?.tokens)
      expect(r.samplingLogps.length).toBe(r.completionTokens.length)
      expect(r.keptTokens?.length).toBe(r.completionTokens.length)
      r.completionTokens.forEach((token, t) => {
        expect(r.keptTokens?.[t]).toContain(token)
      })
      expect(r.routedExperts?.length).toBe(r.promptTokens.length + r.completionTokens.length - 1)
      expect(r.routedExperts?.[0]?.[0]?.length).toBe(2)
      expect(r.truncated).toBe(true) // no stop token: every completion hits maxNewTokens
    })
  })
})

const maxMaskedDiff = (a: tf.Tensor, b: tf.Tensor, mask: ArrayLike<number>): number => {
  const x = a.dataSync()
  const y = b.dataSync()
  let max = 0
  for (let i = 0; i < x.length; i++) if ((mask[i] ?? 0) > 0) max = Math.max(max, Math.abs((x[i] ?? 0) - (y[i] ?? 0)))
  return max
}

describe("each replay switch changes the training forward when it acts, and nothing when it does not", () => {
  it("Keep Sampling Mask with top-p 1 and no top-k (kept set = whole vocabulary) equals no mask", () => {
    const batch = collateRollouts(rollouts(0.9, { topP: 1, topK: 0 }))
    const on = policyLogProbs(model, batch, { keepRouting: true, keepSamplingMask: true, temperature: 0.9 })
    const off = policyLogProbs(model, batch, { keepRouting: true, keepSamplingMask: false, temperature: 0.9 })
    expect(maxMaskedDiff(on.logps, off.logps, batch.completionMask)).toBeLessThan(1e-5)
    tf.dispose([on.logps, on.entropy, off.logps, off.entropy])
  })

  it("Keep Routing: equal to free routing while the router is unchanged; different once the router moved", () => {
    const batch = collateRollouts(rollouts(0.9))
    const forward = (keepRouting: boolean) =>
      policyLogProbs(model, batch, { keepRouting, keepSamplingMask: true, temperature: 0.9 })
    const replayed = forward(true)
    const free = forward(false)
    expect(maxMaskedDiff(replayed.logps, free.logps, batch.completionMask)).toBeLessThan(1e-4)
    // An update moved the router (π_θ ≠ π_sampling): free routing now picks other experts, replay keeps the recorded.
    const gate = model.params.get("layers.1.ffn.gate.weight") as tf.Variable
    const saved = gate.clone()
    gate.assign(tf.add(gate, tf.randomNormal(gate.shape, 0, 2, "float32", 3)))
    const replayedMoved = forward(true)
    const freeMoved = forward(false)
    const recorded = batch.routedExperts?.[0] ?? new Int32Array()
    const used = replayedMoved.routing[0] ?? new Int32Array()
    for (let i = 0; i < recorded.length; i++) if ((recorded[i] ?? -1) >= 0) expect(used[i]).toBe(recorded[i])
    expect(maxMaskedDiff(replayedMoved.logps, freeMoved.logps, batch.completionMask)).toBeGreaterThan(1e-3)
    gate.assign(saved)
    tf.dispose([saved, replayed.logps, replayed.entropy, free.logps, free.entropy])
    tf.dispose([replayedMoved.logps, replayedMoved.entropy, freeMoved.logps, freeMoved.entropy])
  })
})
