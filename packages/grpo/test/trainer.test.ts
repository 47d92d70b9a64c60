import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { InputError, initBackend, metricsFilePath, Progress, Rng, readJsonl, readMetricsFile } from "@ds/core"
import { byteTokenizer, decodeModelConfig, disposeParameters, initParameters, type Model } from "@ds/model"
import { describe, expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { afterAll, beforeAll } from "vitest"
import { decodeGrpoConfig, type GrpoConfigInput } from "../src/config.ts"
import { RolloutRecordSchema } from "../src/rollout/record.ts"
import type { TaskPrompt } from "../src/rollout/rollouts.ts"
import type { GrpoTask } from "../src/tasks/task.ts"
import { evaluatePolicy } from "../src/trainer/evaluate.ts"
import { runGrpo } from "../src/trainer/trainer.ts"

// A tiny DeepSeek-V3.2 (MLA + DSA + MoE) over a 16-token vocabulary, from a random init.
const config = decodeModelConfig({
  vocab_size: 16,
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
  index_topk: 16,
  max_seq_len: 16,
  original_seq_len: 16,
})

const tokenizer = byteTokenizer()

/** Copy task: the prompt is three tokens from 2..15; reward 1 iff the one-token completion repeats the last one. */
const copyPrompt = (rng: Rng, id: string): TaskPrompt => {
  const tokens = [rng.int(2, 16), rng.int(2, 16), rng.int(2, 16)]
  return { id, text: tokens.join(" "), tokens, metadata: { target: tokens[2] } }
}

const heldOut = Rng.make(99)
const task: GrpoTask = {
  name: "copy-last",
  trainPrompts: (rng, count) => Array.from({ length: count }, (_, i) => copyPrompt(rng, `train-${i}`)),
  evalPrompts: Array.from({ length: 48 }, (_, i) => copyPrompt(heldOut, `eval-${i}`)),
  rewards: [{ name: "copy", score: (s) => (s.completionTokens[0] === s.metadata.target ? 1 : 0) }],
  stopTokens: [],
}

let initial: Model
beforeAll(async () => {
  await initBackend("wasm")
  initial = { config, params: initParameters(config, 7) }
})
afterAll(() => disposeParameters(initial.params))

const grpo = (overrides: GrpoConfigInput) =>
  decodeGrpoConfig({
    numGenerations: 8,
    promptsPerStep: 8,
    stepsPerGeneration: 2,
    maxCompletionLength: 1,
    learningRate: 1e-2,
    beta: 0.02,
    seed: 3,
    ...overrides,
  })

const run = (runDir: string, overrides: GrpoConfigInput) =>
  runGrpo({ runDir, config: grpo(overrides), initial, tokenizer, task }).pipe(Effect.provide(Progress.layerSilent))

const evaluation = (model: Model) =>
  evaluatePolicy(model, tokenizer, task, {
    samples: 8,
    sampling: { temperature: 1 },
    maxNewTokens: 1,
    rng: Rng.make(5),
  })

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "grpo-trainer-"))

describe("the GRPO trainer", () => {
  it.effect("raises the mean reward on held-out prompts (tiny model, fixed seed)", () =>
    Effect.gen(function* () {
      const before = yield* evaluation(initial)
      const runDir = tempDir()
      const result = yield* run(runDir, { maxSteps: 20, saveSteps: 100 })
      const after = yield* evaluation(result.model)
      expect(before.reward).toBeLessThan(0.25)
      expect(after.reward).toBeGreaterThan(before.reward + 0.3)
      const events = readMetricsFile(metricsFilePath(runDir)).events
      expect(events.map((e) => e.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
      for (const key of [
        "reward",
        "reward_std",
        "reward_std/batch",
        "rewards/copy/mean",
        "frac_reward_zero_std",
        "kl",
        "clip_ratio/region_mean",
        "opsm/masked_frac",
        "sampling/logp_diff/mean",
        "entropy",
        "completions/mean_length",
        "tokens_per_second",
      ])
        expect(events[0]).toHaveProperty(key)
      for (const chart of ["reward.svg", "kl.svg"]) expect(fs.existsSync(path.join(runDir, chart))).toBe(true)
      const rollouts = yield* readJsonl(path.join(runDir, "rollouts", "step-000000.jsonl"), RolloutRecordSchema)
      expect(rollouts.length).toBe(64)
      // reward_std is TRL's: the mean over groups of the within-group (unbiased) std, not the batch std
      const rewards = rollouts.map((r) => (r.completionTokens[0] === r.metadata.target ? 1 : 0))
      const groupStd = (xs: Array<number>) => {
        const m = xs.reduce((a, b) => a + b, 0) / xs.length
        return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1))
      }
      const groups = Array.from({ length: 8 }, (_, g) => groupStd(rewards.slice(g * 8, g * 8 + 8)))
      expect(events[0]?.reward_std).toBeCloseTo(groups.reduce((a, b) => a + b, 0) / 8, 6)
      expect(events[0]?.["reward_std/batch"]).toBeCloseTo(groupStd(rewards), 6)
      disposeParameters(result.model.params)
    }),
  )

  it.effect("leaves no tensors behind once the trained model is disposed", () =>
    Effect.gen(function* () {
      const before = tf.memory().numTensors
      const result = yield* run(tempDir(), { maxSteps: 2, saveSteps: 1 })
      disposeParameters(result.model.params)
      expect(tf.memory().numTensors).toBe(before)
    }),
  )

  it.effect("frees the trained copy and the reference when the run fails (a reward function fails mid-run)", () =>
    Effect.gen(function* () {
      const before = tf.memory().numTensors
      const failing: GrpoTask<InputError> = {
        ...task,
        rewards: [{ name: "fails", score: () => Effect.fail(new InputError({ source: "judge", reason: "down" })) }],
      }
      const error = yield* Effect.flip(
        runGrpo({ runDir: tempDir(), config: grpo({ maxSteps: 2 }), initial, tokenizer, task: failing }).pipe(
          Effect.provide(Progress.layerSilent),
        ),
      )
      expect(error._tag).toBe("InputError")
      expect(tf.memory().numTensors).toBe(before)
    }),
  )

  it.effect(
    "dapo normalises by the whole rollout batch's tokens, so its loss differs from bnpo's (same rollouts)",
    () =>
      Effect.gen(function* () {
        const loss = (lossType: "dapo" | "bnpo") =>
          Effect.gen(function* () {
            const dir = tempDir()
            const result = yield* run(dir, { maxSteps: 1, lossType, stepsPerGeneration: 2, beta: 0 })
            disposeParameters(result.model.params)
            return readMetricsFile(metricsFilePath(dir)).events[0]?.loss as number
          })
        const dapo = yield* loss("dapo")
        const bnpo = yield* loss("bnpo")
        expect(Number.isFinite(dapo) && Number.isFinite(bnpo)).toBe(true)
        // two minibatches of one-token completions: each holds half the batch's tokens, so dapo ≈ bnpo / 2
        expect(Math.abs(dapo)).not.toBeCloseTo(Math.abs(bnpo), 6)
      }),
  )

  it.effect("a run stopped after a checkpoint resumes with the same curve and the same weights", () =>
    Effect.gen(function* () {
      const straight = tempDir()
      const resumed = tempDir()
      const a = yield* run(straight, { maxSteps: 4, saveSteps: 2 })
      const first = yield* run(resumed, { maxSteps: 2, saveSteps: 2 })
      disposeParameters(first.model.params)
      const b = yield* run(resumed, { maxSteps: 4, saveSteps: 2 })
      const curve = (dir: string) =>
        readMetricsFile(metricsFilePath(dir)).events.map((e) => [e.step, e.reward, e.loss, e.kl])
      expect(curve(resumed)).toEqual(curve(straight))
      for (const [name, p] of a.model.params) expect(b.model.params.get(name)?.dataSync()).toEqual(p.dataSync())
      disposeParameters(a.model.params)
      disposeParameters(b.model.params)
      const state = JSON.parse(fs.readFileSync(path.join(resumed, "checkpoint", "trainer_state.json"), "utf8"))
      expect([state.trainer, state.step, state.seed]).toEqual(["grpo", 4, 3])
    }),
  )

  it.effect("resuming under another configuration fails with TrainerStateError", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const first = yield* run(dir, { maxSteps: 1, saveSteps: 1 })
      disposeParameters(first.model.params)
      const error = yield* Effect.flip(run(dir, { maxSteps: 2, saveSteps: 1, learningRate: 0.5 }))
      expect(error._tag).toBe("TrainerStateError")
    }),
  )
})
