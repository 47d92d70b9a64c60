import { initBackend, Rng } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodeModelConfig } from "../src/config.ts"
import { generate } from "../src/generate.ts"
import { disposeParameters, initParameters } from "../src/params.ts"
import { tokenLogProbs } from "../src/sampler.ts"
import { disposeForward, forward, type Model } from "../src/transformer.ts"

const config = decodeModelConfig({
  vocab_size: 64,
  dim: 32,
  inter_dim: 48,
  moe_inter_dim: 16,
  n_layers: 2,
  n_dense_layers: 1,
  n_heads: 2,
  n_routed_experts: 4,
  n_shared_experts: 1,
  n_activated_experts: 2,
  n_expert_groups: 2,
  n_limited_groups: 1,
  score_func: "sigmoid",
  route_scale: 2.5,
  q_lora_rank: 16,
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 4,
  v_head_dim: 8,
  index_n_heads: 2,
  index_head_dim: 8,
  index_topk: 4,
  max_seq_len: 48,
})

let model: Model

beforeAll(async () => {
  await initBackend("wasm")
  model = { config, params: initParameters(config, 3) }
  // Larger weights than the init so that greedy continuations are not all the same token.
  for (const [name, p] of model.params) if (name.endsWith(".weight") && p.rank === 2) p.assign(tf.mul(p, 8))
})

afterAll(() => disposeParameters(model.params))

const prompts = [
  [1, 5, 9, 13, 2, 7, 30],
  [4, 8],
  [3, 3, 60, 12, 40],
]

describe("inference", () => {
  it("Keep Routing: replaying the recorded experts with unchanged weights gives identical logits", () => {
    const tokens = tf.tensor2d(
      [
        [1, 5, 9, 13, 2, 7, 30, 31, 32, 33],
        [4, 8, 2, 9, 50, 51, 20, 21, 22, 23],
      ],
      [2, 10],
      "int32",
    )
    const first = forward(model, tokens, { logits: "all" })
    expect(first.routing.length).toBe(1)
    expect([...(first.routing[0] ?? [])].every((id) => id >= 0 && id < 4)).toBe(true)
    const replay = forward(model, tokens, { logits: "all", forcedExperts: first.routing })
    expect(replay.logits.dataSync()).toEqual(first.logits.dataSync())
    const other = forward(model, tokens, {
      logits: "all",
      forcedExperts: [Int32Array.from(first.routing[0] ?? [], (id) => (id + 1) % 4)],
    })
    expect(other.logits.dataSync()).not.toEqual(first.logits.dataSync())
    ;[first, replay, other].forEach(disposeForward)
    tokens.dispose()
  })

  it("a batch of prompts of different lengths generates what each prompt generates alone (greedy)", () => {
    const options = { maxNewTokens: 6, sampling: { temperature: 0 }, rng: Rng.make(1) }
    const together = generate(model, prompts, options)
    const alone = prompts.map((p) => generate(model, [p], options)[0])
    together.forEach((g, i) => {
      expect(g.tokens).toEqual(alone[i]?.tokens)
    })
    expect(new Set(together.map((g) => g.tokens.join(","))).size).toBeGreaterThan(1)
  })

  it("stops at a stop token (kept in the output) or at maxNewTokens", () => {
    const free = generate(model, [prompts[0] as Array<number>], {
      maxNewTokens: 5,
      sampling: { temperature: 0 },
      rng: Rng.make(1),
    })[0]
    expect(free?.tokens.length).toBe(5)
    expect(free?.finishReason).toBe("length")
    const stop = free?.tokens[2] as number
    const stopped = generate(model, [prompts[0] as Array<number>], {
      maxNewTokens: 5,
      sampling: { temperature: 0 },
      stopTokens: [stop],
      rng: Rng.make(1),
    })[0]
    expect(stopped?.tokens).toEqual(free?.tokens.slice(0, free.tokens.indexOf(stop) + 1))
    expect(stopped?.finishReason).toBe("stop")
  })

  it("the same seed samples the same tokens; recorded log-probs and routing reproduce in a training forward", () => {
    const options = {
      maxNewTokens: 8,
      sampling: { temperature: 0.9, topP: 0.9, topK: 20 },
      rng: Rng.make(42),
      recordRouting: true,
    }
    const first = generate(model, prompts, options)
    const again = generate(model, prompts, { ...options, rng: Rng.make(42) })
    expect(again.map((g) => g.tokens)).toEqual(first.map((g) => g.tokens))
    for (const g of first) {
      const sequence = [...g.prompt, ...g.tokens]
      const input = tf.tensor2d([sequence], [1, sequence.length], "int32")
      const result = forward(model, input, { logits: "all", forcedExperts: g.routing as Array<Int32Array> })
      const rows = tf.tidy(() =>
        result.logits.reshape([sequence.length, -1]).slice([g.prompt.length - 1, 0], [g.tokens.length, -1]),
      ) as tf.Tensor2D
      const recomputed = tokenLogProbs(rows, Int32Array.from(g.tokens), g.kept, 0.9).dataSync()
      g.logProbs.forEach((lp, i) => {
        expect(recomputed[i]).toBeCloseTo(lp, 3)
      })
      const free = forward(model, input, { logits: "all" })
      // Positions fed through the model during generation (all but the last sampled token) chose the same experts.
      const k = config.n_activated_experts
      const positions = g.prompt.length + g.tokens.length - 1
      const setsOf = (ids: Int32Array | undefined) =>
        Array.from({ length: positions }, (_, t) => [...(ids ?? []).slice(t * k, (t + 1) * k)].sort().join(","))
      expect(setsOf(g.routing?.[0])).toEqual(setsOf(free.routing[0]))
      ;[result, free].forEach(disposeForward)
      tf.dispose([input, rows])
    }
  })

  it("repeated generation does not leak tensors", () => {
    const options = { maxNewTokens: 4, sampling: { temperature: 1 }, rng: Rng.make(5) }
    generate(model, prompts, options)
    const before = tf.memory().numTensors
    generate(model, prompts, options)
    expect(tf.memory().numTensors).toBe(before)
  })
})
