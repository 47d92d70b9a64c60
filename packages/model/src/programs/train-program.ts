/**
 * `ds train`: supervised training of a DeepSeek-V3.2 model on the built-in addition task or a JSONL file.
 *
 * Run directory `out/`:
 *   checkpoint/        the latest checkpoint (config.json, model.safetensors, tokenizer.json), plus
 *                      optimizer.safetensors (AdamW moments) and trainer_state.json — saved atomically
 *   metrics.jsonl      one event per step (loss, lr, grad_norm, tokens_per_s) and per evaluation
 *   loss.svg, eval.svg the curves (re-rendered at each checkpoint and at the end)
 *   train_options.json the resolved options
 *
 * `resume: true` continues from `out/checkpoint` when it exists: parameters, optimizer moments, gate biases and
 * the step are restored, batches are a function of the step (training/data.ts), and metrics after the
 * checkpoint's step are dropped, so the resumed run continues the same curve.
 */
import { existsSync } from "node:fs"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import {
  type CheckpointError,
  ConfigError,
  InputError,
  Metrics,
  plotMetrics,
  Rng,
  readSafetensors,
  type SafetensorsError,
  type TensorData,
} from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { Clock, Effect } from "effect"
import { loadCheckpoint, saveCheckpoint } from "../checkpoint.ts"
import { decodeModelConfig, type ModelConfig } from "../config.ts"
import { generate } from "../generate.ts"
import { type AdamWConfig, type AdamWState, defaultAdamW, initAdamW } from "../optimizer.ts"
import { disposeParameters, initParameters, type Parameters } from "../params.ts"
import { type PresetName, presets } from "../presets.ts"
import { learningRateAt } from "../schedule.ts"
import { additionSequenceLength } from "../tasks/addition.ts"
import { byteTokenizer, type TextTokenizer, trainTokenizer } from "../tokenizer/tokenizer.ts"
import { splitMicroBatches, toPackedTokenBatch, toTokenBatch } from "../training/batches.ts"
import { additionSource, type ExampleSource, readJsonl, textSource } from "../training/data.ts"
import { languageModelLoss } from "../training/loss.ts"
import { trainStep } from "../training/train-step.ts"
import type { Model } from "../transformer.ts"

export interface TrainOptions {
  /** Run directory. */
  readonly out: string
  /** Training data: "addition" (built-in task) or a JSONL file path. Default "addition". */
  readonly data?: string
  /** Digits per operand for the addition task. Default 3. */
  readonly digits?: number
  /** Start from this checkpoint folder instead of a fresh model. */
  readonly init?: string
  /** Preset for a fresh model ("tiny" | "small"). Default "tiny". */
  readonly preset?: PresetName
  /** Overrides of the preset (reference ModelArgs names). */
  readonly modelOverrides?: Partial<ModelConfig>
  /** Train a byte-level BPE of this size on the JSONL data (fresh models only); default: plain bytes. */
  readonly tokenizerVocabSize?: number
  /** Optimizer steps (total, counting from step 0 of the run). Default 800 (addition), 1000 (JSONL). */
  readonly steps?: number
  /** Sequences per optimizer step. Default 32. */
  readonly batchSize?: number
  /** Micro-batches per step (gradient accumulation). Default 1. */
  readonly gradAccumulation?: number
  /** Lay several examples end to end in each row (TRL `packing`; JSONL data). Default false. */
  readonly packing?: boolean
  /** Longest sequence in tokens (JSONL data); default the model's max_seq_len. */
  readonly maxLength?: number
  /** Peak learning rate. Default 1e-2 (addition), 3e-3 (JSONL). */
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
  /** Held-out examples per evaluation. Default 200. */
  readonly evalExamples?: number
  /** Save a checkpoint every this many steps (0 = only at the end). Default steps / 5. */
  readonly saveEvery?: number
  /** Continue from `out/checkpoint` if it exists. Default false. */
  readonly resume?: boolean
  /** Progress events (the CLI renders them as a bar). */
  readonly onEvent?: (event: TrainEvent) => void
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
      readonly loss: number
      readonly learningRate: number
      readonly gradNorm: number
      readonly tokensPerSecond: number
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

export type TrainError = InputError | CheckpointError | ConfigError | SafetensorsError

interface RunState {
  readonly model: Model
  readonly tokenizer: TextTokenizer
  readonly optimizer: AdamWState
  readonly startStep: number
  readonly resumed: boolean
}

const trainerStateFile = "trainer_state.json"
const optimizerFile = "optimizer.safetensors"

const toInputError = (source: string) => (e: unknown) =>
  e instanceof InputError ? e : new InputError({ source, reason: e instanceof Error ? e.message : String(e) })

const trainableParams = (params: Parameters): Map<string, tf.Variable> =>
  new Map([...params].filter(([name, v]) => v.trainable && !name.includes(".attn.indexer.")))

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
        optimizer: initAdamW(trainableParams(model.params)),
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
      optimizer: initAdamW(trainableParams(model.params)),
      startStep: 0,
      resumed: false,
    } satisfies RunState
  })

/** Model, tokenizer, optimizer and step from `out/checkpoint`. */
const resumedRun = (dir: string) =>
  Effect.gen(function* () {
    const checkpoint = yield* loadCheckpoint(dir)
    const model = { config: checkpoint.config, params: checkpoint.params }
    const state = yield* Effect.tryPromise({
      try: async () => JSON.parse(await readFile(join(dir, trainerStateFile), "utf8")) as { step: number },
      catch: toInputError(join(dir, trainerStateFile)),
    })
    const moments = yield* Effect.tryPromise({
      try: () => readSafetensors(join(dir, optimizerFile)),
      catch: toInputError(join(dir, optimizerFile)),
    })
    const optimizer = initAdamW(trainableParams(model.params))
    optimizer.step = state.step
    for (const [kind, target] of [
      ["m", optimizer.m],
      ["v", optimizer.v],
    ] as const) {
      for (const [name, values] of target) {
        const record = moments.get(`${kind}.${name}`)
        if (record === undefined || !(record.data instanceof Float32Array) || record.data.length !== values.length)
          return yield* Effect.fail(
            new InputError({
              source: join(dir, optimizerFile),
              reason: `missing or mis-shaped optimizer state ${kind}.${name}`,
            }),
          )
        values.set(record.data)
      }
    }
    return {
      model,
      tokenizer: checkpoint.tokenizer ?? byteTokenizer(),
      optimizer,
      startStep: state.step,
      resumed: true,
    } satisfies RunState
  })

const saveRun = (options: TrainOptions, run: RunState, step: number) =>
  Effect.gen(function* () {
    const dir = join(options.out, "checkpoint")
    const moments = new Map<string, TensorData>()
    const shapeOf = (name: string) => run.optimizer.shapes.get(name) ?? []
    for (const [name, m] of run.optimizer.m) moments.set(`m.${name}`, { dtype: "F32", shape: shapeOf(name), data: m })
    for (const [name, v] of run.optimizer.v) moments.set(`v.${name}`, { dtype: "F32", shape: shapeOf(name), data: v })
    yield* saveCheckpoint(
      dir,
      { ...run.model, tokenizer: run.tokenizer },
      {
        extraFiles: new Map([[trainerStateFile, `${JSON.stringify({ step, seed: options.seed ?? 0 }, null, 2)}\n`]]),
        extraTensors: new Map([[optimizerFile, moments]]),
      },
    )
    options.onEvent?.({ type: "checkpoint", step, path: dir })
    return dir
  })

const plotCurves = (out: string, evalMetric: string) =>
  plotMetrics(out, [
    { name: "loss", metrics: ["loss"], smoothing: 0.6, title: "training loss" },
    { name: "eval", metrics: [evalMetric], title: `held-out ${evalMetric}` },
  ]).pipe(Effect.ignore)

/** Greedy exact-match accuracy of the completions (addition) — or held-out loss for text data. */
const evaluate = (
  run: RunState,
  source: ExampleSource,
  task: "addition" | "text",
  count: number,
  maxLength: number,
) => {
  const examples = source.heldOut(count)
  if (examples.length === 0) return undefined
  if (task === "addition") {
    const eos = run.tokenizer.eosId as number
    const longest = Math.max(...examples.map((e) => e.completion.length))
    const generations = generate(
      run.model,
      examples.map((e) => e.prompt),
      {
        maxNewTokens: longest,
        sampling: { temperature: 0 },
        stopTokens: [eos],
        rng: Rng.make(0),
      },
    )
    const correct = generations.filter((g, i) => g.tokens.join(",") === examples[i]?.completion.join(",")).length
    return { metric: "heldout_accuracy", value: correct / examples.length }
  }
  const result = tf.tidy(() => {
    const loss = languageModelLoss(run.model, toTokenBatch(examples, maxLength))
    return loss.loss
  })
  const value = result.dataSync()[0] as number
  result.dispose()
  return { metric: "heldout_loss", value }
}

/** Runs (or resumes) a training run; see the file comment. */
export const trainProgram = (options: TrainOptions): Effect.Effect<TrainSummary, TrainError> =>
  Effect.gen(function* () {
    const task = options.data === undefined || options.data === "addition" ? "addition" : "text"
    const texts = task === "text" ? yield* readJsonl(options.data as string) : []
    const checkpointDir = join(options.out, "checkpoint")
    const resume = options.resume === true && existsSync(join(checkpointDir, trainerStateFile))
    const run: RunState = resume
      ? yield* resumedRun(checkpointDir)
      : yield* freshRun(
          options,
          texts.map((t) => t.prompt + t.completion),
        )
    return yield* trainLoop(options, run, task, texts).pipe(
      Effect.provide(Metrics.layer(options.out, resume ? { resumeFromStep: run.startStep } : {})),
      Effect.ensuring(
        Effect.sync(() => {
          disposeParameters(run.model.params)
        }),
      ),
    )
  })

const trainLoop = (
  options: TrainOptions,
  run: RunState,
  task: "addition" | "text",
  texts: ReadonlyArray<{ prompt: string; completion: string }>,
) =>
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const seed = options.seed ?? 0
    const rng = Rng.make(seed)
    const digits = options.digits ?? 3
    const config = run.model.config
    const maxLength =
      task === "addition"
        ? additionSequenceLength(digits) - 1
        : Math.min(options.maxLength ?? config.max_seq_len, config.max_seq_len)
    const source =
      task === "addition" ? additionSource(run.tokenizer, digits, rng) : textSource(run.tokenizer, texts, rng)
    const batchSize = options.batchSize ?? 32
    const steps = options.steps ?? (task === "addition" ? 800 : 1000)
    const peak = options.learningRate ?? (task === "addition" ? 1e-2 : 3e-3)
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
    const evalMetric = task === "addition" ? "heldout_accuracy" : "heldout_loss"
    yield* Effect.tryPromise({ try: () => mkdir(options.out, { recursive: true }), catch: toInputError(options.out) })
    yield* Effect.tryPromise({
      try: () =>
        writeFile(
          join(options.out, "train_options.json"),
          `${JSON.stringify({ ...options, onEvent: undefined, model: config }, null, 2)}\n`,
        ),
      catch: toInputError(options.out),
    })
    const parameters = [...run.model.params.values()].reduce((n, p) => n + p.size, 0)
    options.onEvent?.({ type: "start", step: run.startStep, totalSteps: steps, parameters, resumed: run.resumed })
    let finalLoss = Number.NaN
    let evaluation: { metric: string; value: number } | undefined
    for (let step = run.startStep; step < steps; step++) {
      const started = yield* Clock.currentTimeMillis
      const examples = source.batch(step, batchSize)
      const pack = options.packing === true && task === "text"
      const microBatches = splitMicroBatches(examples, options.gradAccumulation ?? 1).map((part) =>
        pack ? toPackedTokenBatch(part, maxLength) : toTokenBatch(part, maxLength),
      )
      const learningRate = learningRateAt(step, schedule)
      const result = yield* Effect.try({
        try: () =>
          trainStep(run.model, run.optimizer, microBatches, {
            learningRate,
            adamW,
            balanceAlpha: options.balanceAlpha ?? 1e-4,
            biasUpdateSpeed: options.biasUpdateSpeed ?? 1e-3,
          }),
        catch: toInputError("training step"),
      })
      const elapsed = ((yield* Clock.currentTimeMillis) - started) / 1000
      const tokens = microBatches.reduce((n, b) => n + (b.validLengths ?? []).reduce((a, v) => a + v, 0), 0)
      const tokensPerSecond = elapsed > 0 ? tokens / elapsed : 0
      finalLoss = result.loss
      const done = step + 1
      yield* metrics.log(done, {
        loss: result.loss,
        lr: learningRate,
        grad_norm: result.gradNorm,
        tokens_per_s: tokensPerSecond,
      })
      options.onEvent?.({
        type: "step",
        step: done,
        totalSteps: steps,
        loss: result.loss,
        learningRate,
        gradNorm: result.gradNorm,
        tokensPerSecond,
      })
      if ((evalEvery > 0 && done % evalEvery === 0) || done === steps) {
        evaluation = evaluate(run, source, task, evalExamples, maxLength)
        if (evaluation !== undefined) {
          yield* metrics.log(done, { [evaluation.metric]: evaluation.value })
          options.onEvent?.({ type: "eval", step: done, metric: evaluation.metric, value: evaluation.value })
        }
      }
      if ((saveEvery > 0 && done % saveEvery === 0) || done === steps) {
        yield* saveRun(options, run, done)
        yield* plotCurves(options.out, evalMetric)
      }
    }
    if (run.startStep >= steps) yield* plotCurves(options.out, evalMetric)
    options.onEvent?.({
      type: "done",
      step: Math.max(steps, run.startStep),
      ...(evaluation === undefined ? {} : { evaluation }),
    })
    return { steps, finalLoss, evaluation, checkpoint: join(options.out, "checkpoint") } satisfies TrainSummary
  })
