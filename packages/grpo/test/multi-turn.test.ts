import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { initBackend, Progress, Rng } from "@ds/core"
import { decodeModelConfig, disposeParameters, initParameters, type Model, type TextTokenizer } from "@ds/model"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { afterAll, beforeAll } from "vitest"
import { decodeGrpoConfig } from "../src/config.ts"
import { collateRollouts } from "../src/rollout/collate.ts"
import { episodeReward, multiTurnRollouts, type TurnEnvironment } from "../src/rollout/multi-turn.ts"
import type { RolloutRecord } from "../src/rollout/record.ts"
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

// Token i is the letter "A" + i (a test double of a tokenizer: one character per token, no specials).
const tokenizer: TextTokenizer = {
  vocabSize: 16,
  bosId: undefined,
  eosId: undefined,
  padId: undefined,
  encode: (text) => [...text].map((c) => c.charCodeAt(0) - 65),
  decode: (ids) => ids.map((id) => String.fromCharCode(65 + id)).join(""),
  tokenId: () => undefined,
  json: {},
}

/**
 * A two-turn "tool" episode: the first turn is a call (any one token); the environment answers with a secret
 * letter the prompt does not contain; the second turn must repeat it. Reward 1 only then, so a policy can pass only
 * by reading the tool result; the result itself is the environment's, never trained on.
 */
const lookupEnv = (secret: string, log: Array<string> = []): TurnEnvironment => {
  let turns = 0
  let passed = false
  return {
    step: (completion) => {
      log.push(completion)
      turns++
      if (turns === 1) return { done: false, observation: secret }
      passed = completion === secret
      return { done: true, observation: "" }
    },
    reward: () => (passed ? 1 : 0),
    close: () => {},
  }
}

const promptOf = (rng: Rng, id: string): TaskPrompt => {
  const tokens = [rng.int(2, 8), rng.int(2, 8), rng.int(2, 8)]
  return { id, text: tokenizer.decode(tokens), tokens, metadata: { secret: tokenizer.decode([rng.int(8, 16)]) } }
}

const heldOut = Rng.make(41)
const evalPrompts = Array.from({ length: 48 }, (_, i) => promptOf(heldOut, `eval-${i}`))
const task: GrpoTask = {
  name: "tool-lookup",
  trainPrompts: (rng, count) => Array.from({ length: count }, (_, i) => promptOf(rng, `train-${i}`)),
  evalPrompts,
  rewards: [episodeReward],
  stopTokens: [],
  rollout: multiTurnRollouts({
    open: (prompt) => lookupEnv(String(prompt.metadata.secret)),
    maxTurns: 2,
    maxTotalTokens: 8,
  }),
}

let initial: Model
beforeAll(async () => {
  await initBackend("wasm")
  initial = { config, params: initParameters(config, 5) }
})
afterAll(() => disposeParameters(initial.params))

const rollout = (prompts: ReadonlyArray<TaskPrompt>, open: (p: TaskPrompt) => TurnEnvironment) =>
  multiTurnRollouts({ open, maxTurns: 2, maxTotalTokens: 8 })(initial, tokenizer, prompts, {
    numGenerations: 2,
    maxNewTokens: 1,
    sampling: { temperature: 1 },
    stopTokens: [],
    recordRouting: false,
    recordKeptTokens: false,
    idPrefix: "t",
    rng: Rng.make(3),
  })

describe("multi-turn rollouts", () => {
  it("a tool result is fed to the model but masked out of the loss; the environment's reward is the record's", () => {
    const prompts = evalPrompts.slice(0, 3)
    const seen: Array<Array<string>> = []
    const records = rollout(prompts, (p) => {
      const log: Array<string> = []
      seen.push(log)
      return lookupEnv(String(p.metadata.secret), log)
    })
    expect(records.length).toBe(6)
    records.forEach((r: RolloutRecord, i) => {
      const secret = tokenizer.encode(String(prompts[Math.floor(i / 2)]?.metadata.secret))[0]
      // turn 1 (policy), the tool result (environment), turn 2 (policy)
      expect(r.completionTokens.length).toBe(3)
      expect(r.completionTokens[1]).toBe(secret)
      expect(r.lossMask).toEqual([1, 0, 1])
      expect(r.samplingLogps[1]).toBe(0)
      expect(r.samplingLogps[0]).toBeLessThan(0)
      // what each environment saw is exactly the policy's turns
      expect(seen[i]).toEqual([
        tokenizer.decode([r.completionTokens[0] as number]),
        tokenizer.decode([r.completionTokens[2] as number]),
      ])
      expect(r.metadata.reward).toBe(r.completionTokens[2] === secret ? 1 : 0)
      expect(r.truncated).toBe(false)
    })
    const batch = collateRollouts(records)
    expect(Array.from(batch.completionMask)).toEqual(records.flatMap(() => [1, 0, 1]))
    // the tool result is in the input the policy is scored on (position P + 1 predicts turn 2)
    expect(batch.inputTokens[4]).toBe(records[0]?.completionTokens[1])
  })

  it("a lossMask that does not match the completion is an InputError", () => {
    const [record] = rollout(evalPrompts.slice(0, 1), (p) => lookupEnv(String(p.metadata.secret)))
    expect(() => collateRollouts([{ ...(record as RolloutRecord), lossMask: [1, 0] }])).toThrow(/lossMask has 2/)
  })

  it.effect("GRPO over the multi-turn environment raises the held-out pass rate (fixed seed)", () =>
    Effect.gen(function* () {
      const grpo = decodeGrpoConfig({
        numGenerations: 8,
        promptsPerStep: 8,
        stepsPerGeneration: 2,
        maxCompletionLength: 1,
        learningRate: 1e-2,
        keepRouting: false,
        seed: 3,
        maxSteps: 20,
        saveSteps: 100,
      })
      const evaluation = (model: Model) =>
        evaluatePolicy(model, tokenizer, task, {
          samples: 0,
          sampling: { temperature: 1 },
          maxNewTokens: 1,
          rng: Rng.make(5),
        })
      const before = yield* evaluation(initial)
      const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "grpo-multi-turn-"))
      const result = yield* runGrpo({ runDir, config: grpo, initial, tokenizer, task }).pipe(
        Effect.provide(Progress.layerSilent),
      )
      const after = yield* evaluation(result.model)
      disposeParameters(result.model.params)
      expect(before.accuracy).toBeLessThan(0.25)
      expect(after.accuracy).toBeGreaterThan(before.accuracy + 0.3)
    }),
  )
})
