/**
 * `ds train`: supervised training (SFT) of a DeepSeek-V3.2 model on a task's examples or a JSONL file
 * (docs/model.md §8). The caller passes the data: a `SupervisedTask` (e.g. @ds/grpo's addition task) or a JSONL
 * path; nothing here knows a particular task.
 *
 * Run directory `out/`:
 *   checkpoint/        the latest trainer checkpoint (training/trainer-state.ts: model, tokenizer, AdamW moments,
 *                      trainer_state.json), written atomically
 *   metrics.jsonl      one event per step (loss, lr, grad_norm, tokens_per_s) and per evaluation
 *   loss.svg, eval.svg the curves (re-rendered at each checkpoint and at the end)
 *   train_options.json the resolved options
 *
 * `resume: true` continues from `out/checkpoint` when it exists: parameters, optimizer moments, gate biases and
 * the step are restored, batches are a function of the step (training/data.ts), and metrics after the
 * checkpoint's step are dropped, so the resumed run continues the same curve. A checkpoint written under other
 * settings (data, batch, optimizer, seed: `sftSettings`) fails with `TrainerStateError`; the step count and the
 * learning-rate schedule may change between runs (`--steps 900 --resume` extends a run).
 *
 * Evaluations read the source's VALIDATION examples (never the training ones, and for tasks with a separate test
 * split never the test ones), so early stopping on them leaves the test figures unbiased.
 *
 * `stage` (training/stages.ts; docs/attention.md §12) picks what trains and on which loss: "sft" (default) as above,
 * "dense" (dense attention), "indexer-warmup" (only the indexer, on the dense KL; no LM loss) or "sparse" (all, LM
 * loss + the indexer KL on the selected set). The stages that train the indexer also log `indexer_kl` and `recall`
 * (recall@k against dense attention) per step and plot them (indexer.svg, recall.svg); evaluations of the
 * "answer_accuracy" kind also log `heldout_recall`. trainer_state.json records the stage: a resume under another
 * stage fails, and the next stage starts in its own folder from this one's checkpoint (`init`).
 */
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import {
  type CheckpointError,
  ConfigError,
  InputError,
  Metrics,
  plotMetrics,
  Rng,
  type SafetensorsError,
} from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { Clock, Effect, Option } from "effect"
import { loadCheckpoint } from "../checkpoint.ts"
import { decodeModelConfig, type ModelConfig } from "../config.ts"
import { generate } from "../generate.ts"
import { type AdamWConfig, type AdamWState, defaultAdamW } from "../optimizer.ts"
import { disposeParameters, initParameters } from "../params.ts"
import { type PresetName, presets } from "../presets.ts"
import { learningRateAt } from "../schedule.ts"
import { byteTokenizer, type TextTokenizer, trainTokenizer } from "../tokenizer/tokenizer.ts"
import { answerAccuracy, answerRecall } from "../training/answer-eval.ts"
import { paddedLength, splitMicroBatches, toPackedTokenBatch, toTokenBatch } from "../training/batches.ts"
import { type ExampleSource, readTextExamples, type TextExample, textSource } from "../training/data.ts"
import { languageModelLoss, type TokenBatch } from "../training/loss.ts"
import { defaultStage, stagePlan, type TrainingStage } from "../training/stages.ts"
import { type StepMemoryError, stepMemoryError } from "../training/step-memory.ts"
import { trainStep } from "../training/train-step.ts"
import {
  configHash,
  freshOptimizer,
  loadTrainerCheckpoint,
  saveTrainerCheckpoint,
  type TrainerStateError,
} from "../training/trainer-state.ts"
import type { Model } from "../transformer.ts"

/** Supervised data from a task (the caller's): examples per step, validation examples, and how to evaluate. */
export interface SupervisedTask {
  /** Names the data in the run's settings hash, e.g. "addition-2". */
  readonly name: string
  /** The task's examples for the run's tokenizer; `rng` is the run's generator (seeded by `seed`). */
  readonly source: (tokenizer: TextTokenizer, rng: Rng) => ExampleSource
  /** Longest prompt + completion in tokens (the batch length is one less). */
  readonly sequenceLength: number
  /**
   * "exact_match": greedy completion equals the reference; "answer_accuracy": every completion token is the argmax
   * at its position (one forward, with the stage's attention; plus recall@k); "loss": validation cross-entropy.
   */
  readonly evaluation: "exact_match" | "answer_accuracy" | "loss"
}

export interface TrainOptions {
  /** Run directory. */
  readonly out: string
  /** Training data: a task's examples, or the path of a JSONL file (training/data.ts). */
  readonly data: SupervisedTask | string
  /** Start from this checkpoint folder instead of a fresh model. */
  readonly init?: string
  /** Preset for a fresh model ("tiny" | "small"). Default "tiny". */
  readonly preset?: PresetName
  /** Overrides of the preset (reference ModelArgs names). */
  readonly modelOverrides?: Partial<ModelConfig>
  /** Train a byte-level BPE of this size on the JSONL data (fresh models only); default: plain bytes. */
  readonly tokenizerVocabSize?: number
  /** Optimizer steps (total, counting from step 0 of the run). Default 1000. */
  readonly steps?: number
  /** Sequences per optimizer step. Default 32. */
  readonly batchSize?: number
  /** Micro-batches per step (gradient accumulation). Default 1. */
  readonly gradAccumulation?: number
  /** Lay several examples end to end in each row (TRL `packing`; JSONL data). Default false. */
  readonly packing?: boolean
  /** Longest sequence in tokens (JSONL data); default the model's max_seq_len. */
  readonly maxLength?: number
  /** Peak learning rate. Default 3e-3. */
  readonly learningRate?: number
  /** Final learning rate of the cosine decay. Default learningRate / 10. */
  readonly minLearningRate?: number
  /** Linear warm-up steps. Default min(100, steps / 10). */
  readonly warmupSteps?: number
  readonly weightDecay?: number
  readonly beta1?: number
  readonly beta2?: number
  /** Global gradient-norm clip. Default 1. */
  readonly maxGradNorm?: number
  /** Sequence-wise balance loss α (DeepSeek-V3: 1e-4). Default 1e-4. */
  readonly balanceAlpha?: number
  /** Aux-loss-free bias update speed γ (DeepSeek-V3: 1e-3). Default 1e-3. */
  readonly biasUpdateSpeed?: number
  /** Seed of every random choice (init, data order, evaluation sampling). Default 0. */
  readonly seed?: number
  /** Evaluate every this many steps (0 = only at the end). Default steps / 10. */
  readonly evalEvery?: number
  /** Validation examples per evaluation. Default 200. */
  readonly evalExamples?: number
  /** Save a checkpoint every this many steps (0 = only at the end). Default steps / 5. */
  readonly saveEvery?: number
  /** Training stage (see the file comment). Default "sft". */
  readonly stage?: TrainingStage
  /** Weight λ of the indexer KL next to the LM loss in the sparse stage. Default 1. */
  readonly indexerLossWeight?: number
  /** Continue from `out/checkpoint` if it exists. Default false. */
  readonly resume?: boolean
  /** Progress events (the CLI renders them as a bar); run in order inside the program. */
  readonly onEvent?: (event: TrainEvent) => Effect.Effect<void>
}

export type TrainEvent =
  | {
      readonly type: "start"
      readonly step: number
      readonly totalSteps: number
      readonly parameters: number
      readonly resumed: boolean
    }
  | {
      readonly type: "step"
      readonly step: number
      readonly totalSteps: number
      /** The stage's objective: the LM cross-entropy, or the indexer KL in the warm-up. */
      readonly loss: number
      readonly learningRate: number
      readonly gradNorm: number
      readonly tokensPerSecond: number
      /** Indexer KL and recall@k, in the stages that train the indexer. */
      readonly indexerKl?: number
      readonly recall?: number
    }
  | { readonly type: "eval"; readonly step: number; readonly metric: string; readonly value: number }
  | { readonly type: "checkpoint"; readonly step: number; readonly path: string }
  | {
      readonly type: "done"
      readonly step: number
      readonly evaluation?: { readonly metric: string; readonly value: number }
    }

export interface TrainSummary {
  readonly steps: number
  readonly finalLoss: number
  readonly evaluation: { readonly metric: string; readonly value: number } | undefined
  readonly checkpoint: string
}

export type TrainError =
  | InputError
  | CheckpointError
  | ConfigError
  | SafetensorsError
  | TrainerStateError
  | StepMemoryError

interface RunState {
  readonly model: Model
  readonly tokenizer: TextTokenizer
  readonly optimizer: AdamWState
  readonly startStep: number
  readonly resumed: boolean
}

/** The trainer name in trainer_state.json. */
export const sftTrainer = "sft"

const toInputError = (source: string) => (e: unknown) =>
  e instanceof InputError ? e : new InputError({ source, reason: e instanceof Error ? e.message : String(e) })

/** The settings that shape an SFT curve (hashed into trainer_state.json; see the file comment). */
export const sftSettings = (options: TrainOptions) => ({
  data: typeof options.data === "string" ? options.data : options.data.name,
  batchSize: options.batchSize ?? 32,
  gradAccumulation: options.gradAccumulation ?? 1,
  packing: options.packing ?? false,
  maxLength: options.maxLength ?? null,
  weightDecay: options.weightDecay ?? defaultAdamW.weightDecay,
  beta1: options.beta1 ?? defaultAdamW.beta1,
  beta2: options.beta2 ?? defaultAdamW.beta2,
  maxGradNorm: options.maxGradNorm ?? defaultAdamW.maxGradNorm,
  balanceAlpha: options.balanceAlpha ?? 1e-4,
  biasUpdateSpeed: options.biasUpdateSpeed ?? 1e-3,
  seed: options.seed ?? 0,
  // Only where it acts, so the settings hash of the other stages' runs is what it was before stages existed.
  ...(options.stage === "sparse" ? { indexerLossWeight: options.indexerLossWeight ?? 1 } : {}),
})

/** Model, tokenizer and optimizer for a fresh run (or from `init`). */
const freshRun = (options: TrainOptions, corpus: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    if (options.init !== undefined) {
      const checkpoint = yield* loadCheckpoint(options.init)
      const model = { config: checkpoint.config, params: checkpoint.params }
      const tokenizer = checkpoint.tokenizer ?? byteTokenizer()
      return {
        model,
        tokenizer,
        optimizer: freshOptimizer(model, options.stage),
        startStep: 0,
        resumed: false,
      } satisfies RunState
    }
    const tokenizer =
      options.tokenizerVocabSize !== undefined && corpus.length > 0
        ? trainTokenizer(corpus, { vocabSize: options.tokenizerVocabSize })
        : byteTokenizer()
    const config = yield* Effect.try({
      try: () =>
        decodeModelConfig({
          ...presets[options.preset ?? "tiny"],
          ...options.modelOverrides,
          vocab_size: tokenizer.vocabSize,
        }),
      catch: (e) => (e instanceof ConfigError ? e : new ConfigError({ field: "(root)", reason: String(e) })),
    })
    const model = { config, params: initParameters(config, options.seed ?? 0) }
    return {
      model,
      tokenizer,
      optimizer: freshOptimizer(model, options.stage),
      startStep: 0,
      resumed: false,
    } satisfies RunState
  })

const emit = (options: TrainOptions, event: TrainEvent) => options.onEvent?.(event) ?? Effect.void

const plotCurves = (out: string, evalMetric: string, stage: TrainingStage) => {
  const plan = stagePlan(stage)
  return plotMetrics(out, [
    ...(plan.languageModel ? [{ name: "loss", metrics: ["loss"], smoothing: 0.6, title: "training loss" }] : []),
    { name: "eval", metrics: [evalMetric], title: `validation ${evalMetric}` },
    ...(plan.indexerLoss === "none"
      ? []
      : [
          { name: "indexer", metrics: ["indexer_kl"], smoothing: 0.6, title: "indexer KL (mean per query row)" },
          { name: "recall", metrics: ["recall"], smoothing: 0.6, title: "attention recall@k of the indexer" },
        ]),
  ]).pipe(Effect.ignore)
}

/** Greedy exact-match accuracy of the completions, answer accuracy (+ recall@k), or the validation loss. */
const evaluate = (
  run: RunState,
  source: ExampleSource,
  evaluation: SupervisedTask["evaluation"],
  count: number,
  maxLength: number,
  stage: TrainingStage,
): Effect.Effect<ReadonlyArray<{ metric: string; value: number }> | undefined, InputError> =>
  Effect.try({
    try: () => {
      const examples = source.validation(count)
      if (examples.length === 0) return undefined
      if (evaluation === "answer_accuracy") {
        // The dense stage is scored with the attention it trains; every other stage with top-k (what DSA runs).
        const selection = stage === "dense" ? "dense" : "topk"
        return [
          { metric: "heldout_accuracy", value: answerAccuracy(run.model, examples, selection, { maxLength }) },
          { metric: "heldout_recall", value: answerRecall(run.model, examples, { maxLength }) },
        ]
      }
      if (evaluation === "exact_match") {
        const eos = run.tokenizer.eosId
        const longest = Math.max(...examples.map((e) => e.completion.length))
        const generations = generate(
          run.model,
          examples.map((e) => e.prompt),
          {
            maxNewTokens: longest,
            sampling: { temperature: 0 },
            stopTokens: eos === undefined ? [] : [eos],
            rng: Rng.make(0),
          },
        )
        const correct = generations.filter((g, i) => g.tokens.join(",") === examples[i]?.completion.join(",")).length
        return [{ metric: "heldout_accuracy", value: correct / examples.length }]
      }
      const result = tf.tidy(
        () => languageModelLoss(run.model, toTokenBatch(examples, paddedLength(examples, maxLength))).loss,
      )
      const value = result.dataSync()[0] as number
      result.dispose()
      return [{ metric: "heldout_loss", value }]
    },
    catch: toInputError("evaluation"),
  })

/** Runs (or resumes) a training run; see the file comment. Frees the model's tensors however it ends. */
export const trainProgram = (options: TrainOptions): Effect.Effect<TrainSummary, TrainError> =>
  Effect.gen(function* () {
    const task: SupervisedTask & { readonly corpus?: ReadonlyArray<string> } =
      typeof options.data === "string" ? yield* jsonlTask(options.data) : options.data
    const checkpointDir = join(options.out, "checkpoint")
    const hash = configHash(sftSettings(options))
    const resumed =
      options.resume === true
        ? yield* loadTrainerCheckpoint(checkpointDir, {
            trainer: sftTrainer,
            configHash: hash,
            stage: options.stage ?? defaultStage,
          })
        : Option.none()
    const run: RunState = Option.isSome(resumed)
      ? {
          model: resumed.value.model,
          tokenizer: resumed.value.tokenizer ?? byteTokenizer(),
          optimizer: resumed.value.optimizer,
          startStep: resumed.value.state.step,
          resumed: true,
        }
      : yield* freshRun(options, task.corpus ?? [])
    return yield* trainLoop(options, run, task, hash).pipe(
      Effect.provide(Metrics.layer(options.out, run.resumed ? { resumeFromStep: run.startStep } : {})),
      Effect.ensuring(Effect.sync(() => disposeParameters(run.model.params))),
    )
  })

/** A JSONL file as a task (plus its text, for training a tokenizer). */
const jsonlTask = (file: string) =>
  Effect.map(
    readTextExamples(file),
    (texts: ReadonlyArray<TextExample>) =>
      ({
        name: file,
        source: (tokenizer: TextTokenizer, rng: Rng) => textSource(tokenizer, texts, rng),
        sequenceLength: Number.POSITIVE_INFINITY,
        evaluation: "loss",
        corpus: texts.map((t) => t.prompt + t.completion),
      }) satisfies SupervisedTask & { corpus: ReadonlyArray<string> },
  )

/**
 * Fails before the step when a micro-batch would not fit in the wasm backend's heap (training/step-memory.ts);
 * the other backends allocate outside it.
 */
const checkMemory = (config: ModelConfig, parameters: number, microBatches: ReadonlyArray<TokenBatch>) =>
  Effect.suspend(() => {
    const backend = tf.getBackend()
    if (backend !== "wasm") return Effect.void
    for (const b of microBatches) {
      const error = stepMemoryError(config, parameters, b.batch, b.length, backend)
      if (error !== undefined) return Effect.fail(error)
    }
    return Effect.void
  })

const trainLoop = (
  options: TrainOptions,
  run: RunState,
  task: SupervisedTask & { readonly corpus?: ReadonlyArray<string> },
  hash: string,
) =>
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const seed = options.seed ?? 0
    const config = run.model.config
    const maxLength = Math.min(options.maxLength ?? task.sequenceLength - 1, config.max_seq_len)
    const source = task.source(run.tokenizer, Rng.make(seed))
    const batchSize = options.batchSize ?? 32
    const steps = options.steps ?? 1000
    const peak = options.learningRate ?? 3e-3
    const schedule = {
      peak,
      floor: options.minLearningRate ?? peak / 10,
      warmupSteps: options.warmupSteps ?? Math.min(100, Math.ceil(steps / 10)),
      totalSteps: steps,
    }
    const adamW: AdamWConfig = {
      beta1: options.beta1 ?? defaultAdamW.beta1,
      beta2: options.beta2 ?? defaultAdamW.beta2,
      epsilon: defaultAdamW.epsilon,
      weightDecay: options.weightDecay ?? defaultAdamW.weightDecay,
      maxGradNorm: options.maxGradNorm ?? defaultAdamW.maxGradNorm,
    }
    const evalEvery = options.evalEvery ?? Math.max(1, Math.floor(steps / 10))
    const saveEvery = options.saveEvery ?? Math.max(1, Math.floor(steps / 5))
    const evalExamples = options.evalExamples ?? 200
    const evalMetric = task.evaluation === "loss" ? "heldout_loss" : "heldout_accuracy"
    const stage = options.stage ?? defaultStage
    const pack = options.packing === true
    yield* Effect.tryPromise({ try: () => mkdir(options.out, { recursive: true }), catch: toInputError(options.out) })
    const { onEvent: _onEvent, data: _data, ...rest } = options
    yield* Effect.tryPromise({
      try: () =>
        writeFile(
          join(options.out, "train_options.json"),
          `${JSON.stringify({ ...rest, data: task.name, settingsHash: hash, model: config }, null, 2)}\n`,
        ),
      catch: toInputError(options.out),
    })
    const parameters = [...run.model.params.values()].reduce((n, p) => n + p.size, 0)
    yield* emit(options, { type: "start", step: run.startStep, totalSteps: steps, parameters, resumed: run.resumed })
    let finalLoss = Number.NaN
    let evaluation: { metric: string; value: number } | undefined
    for (let step = run.startStep; step < steps; step++) {
      const started = yield* Clock.currentTimeMillis
      const learningRate = learningRateAt(step, schedule)
      const microBatches = yield* Effect.try({
        try: () =>
          splitMicroBatches(source.batch(step, batchSize), options.gradAccumulation ?? 1).map((part) =>
            pack ? toPackedTokenBatch(part, maxLength) : toTokenBatch(part, paddedLength(part, maxLength)),
          ),
        catch: toInputError("training batch"),
      })
      yield* checkMemory(config, parameters, microBatches)
      const { result, tokens } = yield* Effect.try({
        try: () => {
          const result = trainStep(run.model, run.optimizer, microBatches, {
            learningRate,
            adamW,
            balanceAlpha: options.balanceAlpha ?? 1e-4,
            biasUpdateSpeed: options.biasUpdateSpeed ?? 1e-3,
            stage,
            ...(options.indexerLossWeight === undefined ? {} : { indexerLossWeight: options.indexerLossWeight }),
          })
          const tokens = microBatches.reduce((n, b) => n + (b.validLengths ?? []).reduce((a, v) => a + v, 0), 0)
          return { result, tokens }
        },
        catch: toInputError("training step"),
      })
      const elapsed = ((yield* Clock.currentTimeMillis) - started) / 1000
      const tokensPerSecond = elapsed > 0 ? tokens / elapsed : 0
      finalLoss = result.loss
      const done = step + 1
      yield* metrics.log(done, {
        ...(result.crossEntropy === undefined ? {} : { loss: result.crossEntropy }),
        ...(result.indexerKl === undefined ? {} : { indexer_kl: result.indexerKl }),
        ...(result.recall === undefined ? {} : { recall: result.recall }),
        lr: learningRate,
        grad_norm: result.gradNorm,
        tokens_per_s: tokensPerSecond,
      })
      yield* emit(options, {
        type: "step",
        step: done,
        totalSteps: steps,
        loss: result.loss,
        learningRate,
        gradNorm: result.gradNorm,
        tokensPerSecond,
        ...(result.indexerKl === undefined ? {} : { indexerKl: result.indexerKl }),
        ...(result.recall === undefined ? {} : { recall: result.recall }),
      })
      if ((evalEvery > 0 && done % evalEvery === 0) || done === steps) {
        const measured = yield* evaluate(run, source, task.evaluation, evalExamples, maxLength, stage)
        if (measured !== undefined) {
          evaluation = measured[0]
          yield* metrics.log(done, Object.fromEntries(measured.map((m) => [m.metric, m.value])))
          for (const m of measured) yield* emit(options, { type: "eval", step: done, metric: m.metric, value: m.value })
        }
      }
      if ((saveEvery > 0 && done % saveEvery === 0) || done === steps) {
        const dir = join(options.out, "checkpoint")
        yield* saveTrainerCheckpoint(
          dir,
          { model: run.model, tokenizer: run.tokenizer, optimizer: run.optimizer },
          { trainer: sftTrainer, step: done, seed, configHash: hash, stage },
        )
        yield* emit(options, { type: "checkpoint", step: done, path: dir })
        yield* plotCurves(options.out, evalMetric, stage)
      }
    }
    if (run.startStep >= steps) yield* plotCurves(options.out, evalMetric, stage)
    yield* emit(options, {
      type: "done",
      step: Math.max(steps, run.startStep),
      ...(evaluation === undefined ? {} : { evaluation }),
    })
    return { steps, finalLoss, evaluation, checkpoint: join(options.out, "checkpoint") } satisfies TrainSummary
  })
