/**
 * The `ds demo` recipe: the project's main job on embedded defaults, written over the packages' public APIs only.
 *
 *   1. SFT (@ds/model `trainProgram`): a fresh tiny DeepSeek-V3.2 (the "tiny" preset: MLA + DSA attention, a dense
 *      block, then DeepSeekMoE) learns multi-digit addition (@ds/grpo's addition task) until its greedy accuracy on
 *      the task's VALIDATION pairs reaches the target (sft-stage.ts).
 *   2. GRPO (@ds/grpo `runGrpo`) as scaled in V3.2 with all four stabilisers acting (docs/grpo.md): no std division,
 *      the unbiased KL estimate (β > 0), off-policy sequence masking (δ small enough that it fires on some
 *      sequences of the second minibatch), Keep Routing, and Keep Sampling Mask (top-p < 1, so kept sets are
 *      smaller than the vocabulary), with the exact-answer reward and a small format reward.
 *
 *   <out>/summary.json     {sft: {validation_accuracy, steps}, grpo: {reward_before, reward_after, accuracy_before,
 *                           accuracy_after, opsm_masked_frac, kept_truncated_frac, kept_tokens_mean}, task, seconds,
 *                           plots}
 *   <out>/sft/             metrics.jsonl, loss.svg, eval.svg, checkpoint/
 *   <out>/grpo/            metrics.jsonl, reward.svg, kl.svg, accuracy.svg, rollouts/, checkpoint/
 *
 * Accuracy is greedy exact-match on the task's TEST pairs (unordered pairs that SFT and GRPO never train on and
 * that early stopping never reads); reward is the mean weighted reward of sampled completions (training
 * temperature and top-p) on the same prompts, with the same random draws before and after. Rerunning after a kill
 * resumes: SFT continues from its checkpoint and GRPO from its last one. Default folder: runs/demo for `--quick`,
 * runs/demo-full for the full preset.
 */
import * as path from "node:path"
import { Backend, ConfigError, InputError, metricsFilePath, Rng, readMetricsFile, writeFileAtomicSync } from "@ds/core"
import {
  additionTask,
  decodeGrpoConfig,
  evaluatePolicy,
  type GrpoConfig,
  type GrpoConfigInput,
  RunFileError,
  runGrpo,
} from "@ds/grpo"
import { byteTokenizer, disposeParameters } from "@ds/model"
import { Clock, Effect } from "effect"
import { sftStage } from "./sft-stage.ts"

export interface DemoOptions {
  /** The short preset (under 10 minutes on 2 cores). Default false. */
  readonly quick?: boolean
  /** Run folder. Default `demoOutDir(quick)`. */
  readonly out?: string
  /** Seed of every random choice. Default 0. */
  readonly seed?: number
  /** Sizes to use instead of the quick/full preset (smoke tests, experiments). */
  readonly preset?: DemoPreset
}

/** The default run folder: runs/demo (--quick, as the README shows) or runs/demo-full. */
export const demoOutDir = (quick: boolean): string => path.join("runs", quick ? "demo" : "demo-full")

export interface DemoSummary {
  readonly sft: { readonly validation_accuracy: number; readonly steps: number }
  readonly grpo: {
    readonly reward_before: number
    readonly reward_after: number
    readonly accuracy_before: number
    readonly accuracy_after: number
    /** Mean over steps of the fraction of sequences OPSM masked. */
    readonly opsm_masked_frac: number
    /** Fraction of sampled steps whose top-p kept set was smaller than the vocabulary. */
    readonly kept_truncated_frac: number
    /** Mean kept-set size. */
    readonly kept_tokens_mean: number
  }
  readonly task: string
  readonly seconds: { readonly sft: number; readonly grpo: number; readonly total: number }
  readonly plots: ReadonlyArray<string>
}

export interface DemoPreset {
  readonly digits: number
  /** SFT trains in chunks of this many steps until the held-out accuracy reaches `sftTargetAccuracy`. */
  readonly sftChunkSteps: number
  readonly sftMaxSteps: number
  readonly sftTargetAccuracy: number
  readonly sftBatch: number
  readonly sftLearningRate: number
  readonly sftWarmupSteps: number
  readonly grpo: GrpoConfigInput
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

/**
 * The demo's GRPO settings: V3.2's defaults (unbiased KL, Keep Routing, Keep Sampling Mask) with the preset's sizes,
 * a weak KL (β 0.02) so the unbiased estimate is in the loss and its curve is visible, top-p 0.95 so the sampling
 * mask acts, and an OPSM threshold δ = 0.02 that the drift of the second minibatch exceeds on some sequences (the
 * TRL default 0.5 is never reached by a policy one small update away from the sampler).
 */
export const demoGrpoConfig = (preset: DemoPreset, seed: number): GrpoConfig =>
  decodeGrpoConfig({
    beta: 0.02,
    klEstimator: "unbiased",
    keepRouting: true,
    keepSamplingMask: true,
    temperature: 1,
    topP: 0.95,
    offPolicyMaskThreshold: 0.02,
    maxCompletionLength: preset.digits + 2,
    rewardWeights: [1, 0.1],
    seed,
    ...preset.grpo,
  })

const writeSummary = (file: string, summary: DemoSummary) =>
  Effect.try({
    try: () => writeFileAtomicSync(file, `${JSON.stringify(summary, null, 2)}\n`),
    catch: (error) => new RunFileError({ path: file, reason: String(error) }),
  })

const mean = (xs: ReadonlyArray<number>) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length)

const readRunMetrics = (runDir: string) =>
  Effect.try({
    try: () => readMetricsFile(metricsFilePath(runDir)).events,
    catch: (error) => (error instanceof InputError ? error : new InputError({ source: runDir, reason: String(error) })),
  })

/** Mean of a metric over the GRPO steps that logged it. */
const metricMean = (runDir: string, name: string) =>
  Effect.map(readRunMetrics(runDir), (events) =>
    mean(events.map((e) => e[name]).filter((v): v is number => typeof v === "number" && Number.isFinite(v))),
  )

/** Runs the demo (see the file comment); needs a started `Backend` and a `Progress` renderer. */
export const demoProgram = (options: DemoOptions = {}) =>
  Effect.gen(function* () {
    yield* Backend
    const quick = options.quick === true
    const preset = options.preset ?? demoPresets[quick ? "quick" : "full"]
    const seed = options.seed ?? 0
    const runDir = options.out ?? demoOutDir(quick)
    const started = yield* Clock.currentTimeMillis
    const task = additionTask(byteTokenizer(), { digits: preset.digits, evalPrompts: preset.evalPrompts, seed })
    const grpoConfig = yield* Effect.try({
      try: () => demoGrpoConfig(preset, seed),
      catch: (error) =>
        error instanceof ConfigError ? error : new ConfigError({ field: "(root)", reason: String(error) }),
    })
    const evaluation = {
      samples: preset.evalSamples,
      sampling: { temperature: grpoConfig.temperature, topP: grpoConfig.topP, topK: grpoConfig.topK },
      maxNewTokens: grpoConfig.maxCompletionLength,
      rng: Rng.make(seed).fork("eval"),
      ...(grpoConfig.rewardWeights === undefined ? {} : { rewardWeights: grpoConfig.rewardWeights }),
    }
    const validation = { ...task, evalPrompts: task.validationPrompts }
    const sft = yield* sftStage({
      dir: path.join(runDir, "sft"),
      data: task.supervised,
      chunkSteps: preset.sftChunkSteps,
      maxSteps: preset.sftMaxSteps,
      targetAccuracy: preset.sftTargetAccuracy,
      batchSize: preset.sftBatch,
      learningRate: preset.sftLearningRate,
      warmupSteps: preset.sftWarmupSteps,
      seed,
      validationAccuracy: (model, tokenizer) =>
        Effect.map(evaluatePolicy(model, tokenizer, validation, { ...evaluation, samples: 0 }), (e) => e.accuracy),
    })
    const { model: initial, tokenizer } = sft
    const grpoDir = path.join(runDir, "grpo")
    const run = Effect.gen(function* () {
      const sftDone = yield* Clock.currentTimeMillis
      const before = yield* evaluatePolicy(initial, tokenizer, task, evaluation)
      yield* Effect.logInfo(
        `SFT: test accuracy ${before.accuracy.toFixed(3)}, sampled reward ${before.reward.toFixed(3)}`,
      )
      const result = yield* runGrpo({
        runDir: grpoDir,
        config: grpoConfig,
        initial,
        tokenizer,
        task,
        evalSteps: preset.evalSteps,
        evalSamples: preset.evalSamples,
      })
      const after = yield* (
        result.finalEvaluation === undefined
          ? evaluatePolicy(result.model, tokenizer, task, evaluation)
          : Effect.succeed(result.finalEvaluation)
      ).pipe(Effect.ensuring(Effect.sync(() => disposeParameters(result.model.params))))
      const finished = yield* Clock.currentTimeMillis
      const summary: DemoSummary = {
        sft: { validation_accuracy: sft.validationAccuracy, steps: sft.steps },
        grpo: {
          reward_before: before.reward,
          reward_after: after.reward,
          accuracy_before: before.accuracy,
          accuracy_after: after.accuracy,
          opsm_masked_frac: yield* metricMean(grpoDir, "opsm/masked_frac"),
          kept_truncated_frac: yield* metricMean(grpoDir, "sampling/kept_truncated_frac"),
          kept_tokens_mean: yield* metricMean(grpoDir, "sampling/kept_tokens/mean"),
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
      return summary
    })
    return yield* run.pipe(Effect.ensuring(Effect.sync(() => disposeParameters(initial.params))))
  })
