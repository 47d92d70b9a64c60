/**
 * The GRPO trainer (docs/grpo.md), as an Effect:
 *
 *   for step s = start .. maxSteps − 1:
 *     prompts   ← task.trainPrompts(rng(seed, s))                  promptsPerStep prompts
 *     rollouts  ← G samples per prompt (sampler: ℓ_sampling, kept sets, routing)  -> <runDir>/rollouts/step-s.jsonl
 *     rewards   ← weighted reward functions;  Â = R − mean_group(R)  (advantages.ts)
 *     repeat numIterations times: shuffle the kept samples, split into stepsPerGeneration minibatches,
 *                                  one AdamW update per minibatch (update.ts)   -> π_θ drifts from π_old
 *                                  ("dapo" divides every minibatch's token sum by the rollout batch's token count)
 *     metrics   -> <runDir>/metrics.jsonl (one event per step; `eval/*` at step 0, every evalSteps and at the end)
 *     checkpoint every saveSteps and at the end -> <runDir>/checkpoint (@ds/model's trainer checkpoint)
 *
 * Resumable: with a checkpoint in `runDir` the run continues from its step, metrics after it are dropped, and every
 * random choice of step s derives from (seed, s), so the resumed curve equals the uninterrupted one. A checkpoint of
 * another configuration (`grpoSettings`) fails with `TrainerStateError`. The reference model (β > 0) is a frozen
 * copy of the starting policy. Progress events go to the `Progress` service. The trained copy is returned to the
 * caller on success and freed when the run fails or is interrupted; the reference is freed either way.
 *
 * Metrics follow TRL's names: `reward_std` is the mean over groups of the within-group std (TRL), the batch std is
 * `reward_std/batch`; `sampling/kept_tokens/mean` and `sampling/kept_truncated_frac` show the Keep Sampling Mask
 * acting (mean kept-set size; fraction of steps whose kept set is smaller than the vocabulary).
 */
import * as path from "node:path"
import { Metrics, Progress, plotMetrics, Rng, writeJsonlAtomic } from "@ds/core"
import {
  type AdamWConfig,
  type AdamWState,
  configHash,
  disposeParameters,
  freshOptimizer,
  loadTrainerCheckpoint,
  type Model,
  saveTrainerCheckpoint,
  type TextTokenizer,
  type TrainerState,
} from "@ds/model"
import * as tf from "@tensorflow/tfjs"
import { Clock, Effect, Option } from "effect"
import { computeAdvantages, unbiasedStd } from "../advantages.ts"
import type { GrpoConfig } from "../config.ts"
import { numeric } from "../errors.ts"
import { rewardFunctionStats, scoreRewards } from "../rewards/reward-function.ts"
import { collateRollouts, selectRecords } from "../rollout/collate.ts"
import { type RolloutRecord, RolloutRecordSchema } from "../rollout/record.ts"
import { sampleRollouts } from "../rollout/rollouts.ts"
import { type GrpoTask, toScoredSample } from "../tasks/task.ts"
import { type Evaluation, evaluatePolicy } from "./evaluate.ts"
import { grpoUpdate, type UpdateStats } from "./update.ts"

export interface GrpoRunOptions<E, R> {
  readonly runDir: string
  readonly config: GrpoConfig
  /** The policy to start from (and the reference when β > 0). Not modified: the trainer trains a copy. */
  readonly initial: Model
  readonly tokenizer: TextTokenizer
  readonly task: GrpoTask<E, R>
  /** AdamW moments and ε (weight decay and clip come from the config). Default β1 0.9, β2 0.99, ε 1e-8. */
  readonly adamW?: Pick<AdamWConfig, "beta1" | "beta2" | "epsilon">
  /** Evaluate on the held-out prompts every this many steps (and at the end). Default: never during training. */
  readonly evalSteps?: number
  /** Sampled completions per held-out prompt in the evaluations. Default 4. */
  readonly evalSamples?: number
}

export interface GrpoRunResult {
  /** The trained policy (the caller disposes it with @ds/model `disposeParameters`). */
  readonly model: Model
  /** Steps and optimiser updates done. */
  readonly state: Pick<TrainerState, "step" | "optimizerStep">
  /** The held-out evaluation after the last step, when `evalSteps` is set. */
  readonly finalEvaluation: Evaluation | undefined
}

/** The trainer name in trainer_state.json. */
export const grpoTrainer = "grpo"

/** What shapes a GRPO curve (hashed into trainer_state.json): the config but its step budget, and the task. */
export const grpoSettings = (config: GrpoConfig, taskName: string) => {
  const { maxSteps: _maxSteps, saveSteps: _saveSteps, ...rest } = config
  return { ...rest, task: taskName }
}

/** A trainable copy of a model's parameters (trainability as in the source). */
export const cloneModel = (model: Model, trainable = true): Model => ({
  config: model.config,
  params: new Map([...model.params].map(([name, p]) => [name, tf.variable(p, trainable && p.trainable)])),
})

const stepFile = (runDir: string, step: number) =>
  path.join(runDir, "rollouts", `step-${String(step).padStart(6, "0")}.jsonl`)

const mean = (xs: ReadonlyArray<number>): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length
/** Completion tokens that carry loss (all but the environment's, in multi-turn rollouts). */
const trainedTokens = (r: RolloutRecord): number =>
  r.lossMask === undefined ? r.completionTokens.length : r.lossMask.reduce<number>((n, m) => n + m, 0)

/** Zeroes the loss mask of truncated completions (TRL `mask_truncated_completions`). */
const maskTruncated = (records: ReadonlyArray<RolloutRecord>, batch: ReturnType<typeof collateRollouts>) => {
  records.forEach((r, n) => {
    if (r.truncated) batch.completionMask.fill(0, n * batch.completionLength, (n + 1) * batch.completionLength)
  })
  return batch
}

/** Splits `indices` into `parts` nearly equal, non-empty chunks. */
const chunks = (indices: ReadonlyArray<number>, parts: number): Array<Array<number>> => {
  const count = Math.max(1, Math.min(parts, indices.length))
  const size = Math.ceil(indices.length / count)
  return Array.from({ length: count }, (_, i) => indices.slice(i * size, (i + 1) * size)).filter((c) => c.length > 0)
}

interface StepContext<E, R> {
  readonly options: GrpoRunOptions<E, R>
  readonly model: Model
  readonly reference: Model | undefined
  readonly optimizer: AdamWState
  readonly adamW: AdamWConfig
}

/** All updates of one rollout batch; returns the per-update figures. */
const updateOnBatch = <E, R>(
  ctx: StepContext<E, R>,
  records: ReadonlyArray<RolloutRecord>,
  advantages: Float32Array,
  kept: ReadonlyArray<number>,
  rng: Rng,
): Array<UpdateStats> => {
  const { config } = ctx.options
  const stats: Array<UpdateStats> = []
  // TRL's num_items_in_batch: the completion tokens of the whole rollout batch the minibatches split ("dapo").
  const numItemsInBatch = kept.reduce((n, i) => {
    const r = records[i] as RolloutRecord
    return n + (config.maskTruncatedCompletions && r.truncated ? 0 : trainedTokens(r))
  }, 0)
  for (let iteration = 0; iteration < config.numIterations; iteration++) {
    const order = rng.fork(iteration).shuffle(kept)
    for (const minibatch of chunks(order, config.stepsPerGeneration)) {
      const selected = selectRecords(records, minibatch)
      const batch = collateRollouts(selected)
      if (config.maskTruncatedCompletions) maskTruncated(selected, batch)
      const updateOptions = {
        config,
        learningRate: config.learningRate,
        adamW: ctx.adamW,
        numItemsInBatch: Math.max(1, numItemsInBatch),
        ...(ctx.reference === undefined ? {} : { reference: ctx.reference }),
      }
      stats.push(
        grpoUpdate(
          ctx.model,
          ctx.optimizer,
          batch,
          Float32Array.from(minibatch, (i) => advantages[i] ?? 0),
          updateOptions,
        ),
      )
    }
  }
  return stats
}

const meanOf = (stats: ReadonlyArray<UpdateStats>, pick: (s: UpdateStats) => number | null): number | null => {
  const values = stats.map(pick).filter((v): v is number => v !== null && Number.isFinite(v))
  return values.length === 0 ? null : mean(values)
}

/** One rollout batch: sample, score, update. Returns the metric values of the step. */
const trainStep = <E, R>(ctx: StepContext<E, R>, step: number) =>
  Effect.gen(function* () {
    const { config, task, tokenizer, runDir } = ctx.options
    const started = yield* Clock.currentTimeMillis
    const rng = Rng.make(config.seed).fork("grpo").fork(step)
    const prompts = task.trainPrompts(rng.fork("prompts"), config.promptsPerStep)
    const records = yield* numeric("rollouts", () =>
      (task.rollout ?? sampleRollouts)(ctx.model, tokenizer, prompts, {
        numGenerations: config.numGenerations,
        maxNewTokens: config.maxCompletionLength,
        sampling: { temperature: config.temperature, topP: config.topP, topK: config.topK },
        stopTokens: task.stopTokens,
        recordRouting: config.keepRouting,
        recordKeptTokens: config.keepSamplingMask,
        idPrefix: `step-${step}`,
        rng: rng.fork("sampling"),
      }),
    )
    yield* writeJsonlAtomic(stepFile(runDir, step), RolloutRecordSchema, records)
    const table = yield* scoreRewards(
      task.rewards,
      records.map(toScoredSample),
      config.rewardWeights === undefined ? {} : { weights: config.rewardWeights },
    )
    const advantages = yield* numeric("advantages", () =>
      computeAdvantages(table.total, {
        groupSize: config.numGenerations,
        scaleRewards: config.scaleRewards,
        dropZeroStdGroups: config.dropZeroStdGroups,
      }),
    )
    const updates =
      advantages.keptSamples.length === 0
        ? []
        : yield* numeric("GRPO update", () =>
            updateOnBatch(ctx, records, advantages.advantages, advantages.keptSamples, rng.fork("minibatches")),
          )
    const finished = yield* Clock.currentTimeMillis
    const lengths = records.map((r) => r.completionTokens.length)
    const seconds = Math.max(1e-3, (finished - started) / 1000)
    const perFunction: Record<string, number> = {}
    for (const [name, s] of Object.entries(rewardFunctionStats(table))) {
      perFunction[`rewards/${name}/mean`] = s.mean
      perFunction[`rewards/${name}/std`] = s.std
    }
    const g = config.numGenerations
    const groupStds = Array.from({ length: table.total.length / g }, (_, k) =>
      unbiasedStd(table.total.slice(k * g, k * g + g)),
    )
    const vocab = ctx.model.config.vocab_size
    const keptSizes = records.flatMap((r) => (r.keptTokens ?? []).map((set) => set?.length ?? vocab))
    return {
      reward: mean(table.total),
      reward_std: mean(groupStds),
      "reward_std/batch": unbiasedStd(table.total),
      ...perFunction,
      frac_reward_zero_std: advantages.zeroStdFraction,
      updates: updates.length,
      loss: meanOf(updates, (s) => s.loss),
      kl: meanOf(updates, (s) => s.kl),
      "clip_ratio/low_mean": meanOf(updates, (s) => s.clipLow),
      "clip_ratio/high_mean": meanOf(updates, (s) => s.clipHigh),
      "clip_ratio/region_mean": meanOf(updates, (s) => s.clipRegion),
      "opsm/masked_frac": meanOf(updates, (s) => s.maskedFraction),
      "opsm/divergence": meanOf(updates, (s) => s.offPolicyDivergence),
      "sampling/logp_diff/mean": meanOf(updates, (s) => s.logpDiffMean),
      "sampling/logp_diff/max": meanOf(updates, (s) => s.logpDiffMax),
      "sampling/kept_tokens/mean": keptSizes.length === 0 ? null : mean(keptSizes),
      "sampling/kept_truncated_frac":
        keptSizes.length === 0 ? null : mean(keptSizes.map((size) => (size < vocab ? 1 : 0))),
      entropy: meanOf(updates, (s) => s.entropy),
      grad_norm: meanOf(updates, (s) => s.gradNorm),
      "completions/mean_length": mean(lengths),
      "completions/clipped_ratio": mean(records.map((r) => (r.truncated ? 1 : 0))),
      tokens_per_second: lengths.reduce((a, b) => a + b, 0) / seconds,
      step_seconds: seconds,
      learning_rate: config.learningRate,
    }
  })

/** The charts written beside metrics.jsonl at the end of a run. */
export const grpoCharts = [
  { name: "reward", metrics: ["reward", "eval/reward"], title: "reward (train batch, held-out)", yLabel: "reward" },
  { name: "kl", metrics: ["kl"], title: "KL to the reference", yLabel: "KL" },
  { name: "accuracy", metrics: ["eval/accuracy"], title: "held-out greedy accuracy", yLabel: "accuracy" },
] as const

const evaluationOptions = <E, R>(options: GrpoRunOptions<E, R>) => ({
  samples: options.evalSamples ?? 4,
  sampling: { temperature: options.config.temperature, topP: options.config.topP, topK: options.config.topK },
  maxNewTokens: options.config.maxCompletionLength,
  rng: Rng.make(options.config.seed).fork("eval"),
  ...(options.config.rewardWeights === undefined ? {} : { rewardWeights: options.config.rewardWeights }),
})

/** Trains with GRPO (see the file comment). */
export const runGrpo = <E, R>(options: GrpoRunOptions<E, R>) =>
  Effect.gen(function* () {
    const { config, runDir } = options
    const hash = configHash(grpoSettings(config, options.task.name))
    const dir = path.join(runDir, "checkpoint")
    const resumed = yield* loadTrainerCheckpoint(dir, { trainer: grpoTrainer, configHash: hash })
    const model = Option.isSome(resumed) ? resumed.value.model : cloneModel(options.initial)
    const optimizer = Option.isSome(resumed) ? resumed.value.optimizer : freshOptimizer(model)
    const start = Option.isSome(resumed) ? resumed.value.state.step : 0
    const reference = config.beta > 0 ? cloneModel(options.initial, false) : undefined
    const adamW: AdamWConfig = {
      beta1: options.adamW?.beta1 ?? 0.9,
      beta2: options.adamW?.beta2 ?? 0.99,
      epsilon: options.adamW?.epsilon ?? 1e-8,
      weightDecay: config.weightDecay,
      maxGradNorm: config.maxGradNorm,
    }
    const ctx: StepContext<E, R> = { options, model, reference, optimizer, adamW }
    const loop = Effect.gen(function* () {
      const progress = yield* Progress
      const metrics = yield* Metrics
      let finalEvaluation: Evaluation | undefined
      if (start === 0 && options.evalSteps !== undefined) {
        const initialEvaluation = yield* evaluatePolicy(
          model,
          options.tokenizer,
          options.task,
          evaluationOptions(options),
        )
        yield* metrics.log(0, { "eval/reward": initialEvaluation.reward, "eval/accuracy": initialEvaluation.accuracy })
      }
      for (let step = start; step < config.maxSteps; step++) {
        const values = yield* trainStep(ctx, step)
        const done = step + 1
        const evaluate = options.evalSteps !== undefined && (done % options.evalSteps === 0 || done === config.maxSteps)
        const evaluation = evaluate
          ? yield* evaluatePolicy(model, options.tokenizer, options.task, evaluationOptions(options))
          : undefined
        if (done === config.maxSteps) finalEvaluation = evaluation
        yield* metrics.log(done, {
          ...values,
          ...(evaluation === undefined
            ? {}
            : { "eval/reward": evaluation.reward, "eval/accuracy": evaluation.accuracy }),
        })
        if (done % config.saveSteps === 0 || done === config.maxSteps)
          yield* saveTrainerCheckpoint(
            dir,
            { model, tokenizer: options.tokenizer, optimizer },
            { trainer: grpoTrainer, step: done, seed: config.seed, configHash: hash },
          )
        yield* progress.update({
          task: "grpo",
          done,
          total: config.maxSteps,
          unit: "step",
          info: {
            reward: Number(values.reward.toFixed(3)),
            ...(values.kl === null ? {} : { kl: Number(values.kl.toFixed(4)) }),
          },
        })
      }
      yield* progress.finish("grpo")
      return finalEvaluation
    })
    const finalEvaluation = yield* loop.pipe(
      Effect.provide(Metrics.layer(runDir, start > 0 ? { resumeFromStep: start } : {})),
      Effect.tap(() => plotMetrics(runDir, grpoCharts)),
      Effect.onError(() => Effect.sync(() => disposeParameters(model.params))),
      Effect.ensuring(
        Effect.sync(() => {
          if (reference !== undefined) disposeParameters(reference.params)
        }),
      ),
    )
    return {
      model,
      state: { step: Math.max(start, config.maxSteps), optimizerStep: optimizer.step },
      finalEvaluation,
    } satisfies GrpoRunResult
  })
