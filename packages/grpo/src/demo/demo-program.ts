/**
 * `ds demo`: the project's main job on embedded defaults.
 *
 *   1. SFT: a fresh tiny DeepSeek-V3.2 (@ds/model's "tiny" preset: MLA + DSA attention, a dense block, then
 *      DeepSeekMoE) learns multi-digit addition (@ds/model's synthetic task) until it is right part of the time.
 *   2. GRPO as scaled in V3.2 (no std division, unbiased KL, off-policy sequence masking, Keep Routing, Keep
 *      Sampling Mask) with an exact-answer reward and a small format reward.
 *
 *   <runDir>/summary.json     {sft: {accuracy, steps}, grpo: {reward_before, reward_after, accuracy_before,
 *                              accuracy_after}, task, seconds, plots}
 *   <runDir>/sft/             metrics.jsonl, loss.svg, eval.svg, checkpoint/
 *   <runDir>/grpo/            metrics.jsonl, reward.svg, kl.svg, accuracy.svg, rollouts/, checkpoint/
 *
 * Accuracy is greedy exact-match on held-out pairs (a tenth of all pairs that SFT and GRPO never train on);
 * reward is the mean weighted reward of sampled completions (training temperature) on the same prompts, with the
 * same random draws before and after. Rerunning after a kill resumes: SFT continues from its checkpoint and GRPO
 * from its last one.
 */
import * as path from "node:path"
import { Backend, Rng } from "@ds/core"
import { byteTokenizer, disposeParameters } from "@ds/model"
import { Clock, Effect } from "effect"
import { decodeGrpoConfig, type GrpoConfig } from "../config.ts"
import { RunFileError } from "../errors.ts"
import { writeFileAtomic } from "../rollout/jsonl.ts"
import { additionTask } from "../tasks/addition-task.ts"
import { evaluatePolicy } from "../trainer/evaluate.ts"
import { runGrpo } from "../trainer/trainer.ts"
import { supervisedStage } from "./sft.ts"

export interface DemoOptions {
  /** The short preset (under 10 minutes on 2 cores). Default false. */
  readonly quick?: boolean
  /** Run folder. Default `runs/<name>`. */
  readonly runDir?: string
  /** Run name. Default "demo" ("demo-quick" with `quick`). */
  readonly name?: string
  /** Seed of every random choice. Default 0. */
  readonly seed?: number
  /** Sizes to use instead of the quick/full preset (smoke tests, experiments). */
  readonly preset?: DemoPreset
}

export interface DemoSummary {
  readonly sft: { readonly accuracy: number; readonly steps: number }
  readonly grpo: {
    readonly reward_before: number
    readonly reward_after: number
    readonly accuracy_before: number
    readonly accuracy_after: number
  }
  readonly task: string
  readonly seconds: { readonly sft: number; readonly grpo: number; readonly total: number }
  readonly plots: ReadonlyArray<string>
}

/** Sizes of one preset. */
export interface DemoPreset {
  readonly digits: number
  /** SFT trains in chunks of this many steps until the held-out accuracy reaches `sftTargetAccuracy`. */
  readonly sftChunkSteps: number
  readonly sftMaxSteps: number
  readonly sftTargetAccuracy: number
  readonly sftBatch: number
  readonly sftLearningRate: number
  readonly sftWarmupSteps: number
  readonly grpo: Partial<GrpoConfig>
  readonly evalPrompts: number
  readonly evalSamples: number
  readonly evalSteps: number
}

export const demoPresets: Readonly<Record<"quick" | "full", DemoPreset>> = {
  quick: {
    digits: 2,
    sftChunkSteps: 50,
    sftMaxSteps: 1500,
    sftTargetAccuracy: 0.4,
    sftBatch: 32,
    sftLearningRate: 5e-3,
    sftWarmupSteps: 50,
    grpo: {
      maxSteps: 120,
      promptsPerStep: 16,
      numGenerations: 8,
      stepsPerGeneration: 2,
      learningRate: 1e-3,
      saveSteps: 20,
    },
    evalPrompts: 128,
    evalSamples: 4,
    evalSteps: 20,
  },
  full: {
    digits: 2,
    sftChunkSteps: 50,
    sftMaxSteps: 3000,
    sftTargetAccuracy: 0.4,
    sftBatch: 32,
    sftLearningRate: 5e-3,
    sftWarmupSteps: 50,
    grpo: {
      maxSteps: 300,
      promptsPerStep: 16,
      numGenerations: 8,
      stepsPerGeneration: 2,
      learningRate: 1e-3,
      saveSteps: 20,
    },
    evalPrompts: 256,
    evalSamples: 8,
    evalSteps: 20,
  },
}

/** The demo's GRPO settings: V3.2's defaults with the preset's sizes and a weak KL so the KL curve is visible. */
export const demoGrpoConfig = (preset: DemoPreset, seed: number): GrpoConfig =>
  decodeGrpoConfig({
    beta: 0.02,
    temperature: 1,
    maxCompletionLength: preset.digits + 2,
    rewardWeights: [1, 0.1],
    seed,
    ...preset.grpo,
  })

const writeSummary = (file: string, summary: DemoSummary) =>
  Effect.try({
    try: () => writeFileAtomic(file, `${JSON.stringify(summary, null, 2)}\n`),
    catch: (error) => new RunFileError({ path: file, reason: String(error) }),
  })

/** Runs the demo (see the file comment); needs a started `Backend` and a `Progress` renderer. */
export const demoProgram = (options: DemoOptions = {}) =>
  Effect.gen(function* () {
    yield* Backend
    const quick = options.quick === true
    const preset = options.preset ?? demoPresets[quick ? "quick" : "full"]
    const seed = options.seed ?? 0
    const runDir = options.runDir ?? path.join("runs", options.name ?? (quick ? "demo-quick" : "demo"))
    const started = yield* Clock.currentTimeMillis
    const task = additionTask(byteTokenizer(), { digits: preset.digits, evalPrompts: preset.evalPrompts, seed })
    const grpoConfig = demoGrpoConfig(preset, seed)
    const evaluation = {
      samples: preset.evalSamples,
      sampling: { temperature: grpoConfig.temperature, topP: grpoConfig.topP, topK: grpoConfig.topK },
      maxNewTokens: grpoConfig.maxCompletionLength,
      rng: Rng.make(seed).fork("eval"),
      ...(grpoConfig.rewardWeights === undefined ? {} : { rewardWeights: grpoConfig.rewardWeights }),
    }
    const sftStage = yield* supervisedStage({
      dir: path.join(runDir, "sft"),
      digits: preset.digits,
      chunkSteps: preset.sftChunkSteps,
      maxSteps: preset.sftMaxSteps,
      targetAccuracy: preset.sftTargetAccuracy,
      batchSize: preset.sftBatch,
      learningRate: preset.sftLearningRate,
      warmupSteps: preset.sftWarmupSteps,
      seed,
      accuracy: (model, tokenizer) =>
        Effect.map(evaluatePolicy(model, tokenizer, task, { ...evaluation, samples: 0 }), (e) => e.accuracy),
    })
    const { model: sft, tokenizer } = sftStage
    const sftDone = yield* Clock.currentTimeMillis
    const before = yield* evaluatePolicy(sft, tokenizer, task, evaluation)
    yield* Effect.logInfo(
      `SFT: held-out accuracy ${before.accuracy.toFixed(3)}, sampled reward ${before.reward.toFixed(3)}`,
    )
    const result = yield* runGrpo({
      runDir: path.join(runDir, "grpo"),
      config: grpoConfig,
      initial: sft,
      tokenizer,
      task,
      evalSteps: preset.evalSteps,
      evalSamples: preset.evalSamples,
    })
    const after = result.finalEvaluation ?? (yield* evaluatePolicy(result.model, tokenizer, task, evaluation))
    const finished = yield* Clock.currentTimeMillis
    const summary: DemoSummary = {
      sft: { accuracy: before.accuracy, steps: sftStage.steps },
      grpo: {
        reward_before: before.reward,
        reward_after: after.reward,
        accuracy_before: before.accuracy,
        accuracy_after: after.accuracy,
      },
      task: task.name,
      seconds: {
        sft: (sftDone - started) / 1000,
        grpo: (finished - sftDone) / 1000,
        total: (finished - started) / 1000,
      },
      plots: ["sft/loss.svg", "grpo/reward.svg", "grpo/kl.svg", "grpo/accuracy.svg"],
    }
    yield* writeSummary(path.join(runDir, "summary.json"), summary)
    disposeParameters(sft.params)
    disposeParameters(result.model.params)
    return summary
  })
