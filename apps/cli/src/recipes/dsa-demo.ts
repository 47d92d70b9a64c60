/**
 * The `ds dsa-demo` recipe: why DeepSeek trains its lightning indexer (docs/attention.md §12), on @ds/model's public
 * API only. A small model (the "long" preset: one MLA + DSA block, top-32 selection) learns the needle task (a
 * letter at least 127 tokens behind the question, training/needle-task.ts), then
 *
 *   1. dense            `ds train --stage dense`: dense attention learns the task; the indexer stays random
 *   2. sparse_untrained the same model with top-k selection by its untrained indexer (evaluation only)
 *   3. warmup           `ds train --stage indexer-warmup`: only the indexer trains, on the KL to the dense attention
 *   4. sparse           `ds train --stage sparse`: top-k on, everything trains, LM loss + the detached indexer KL
 *
 *   <out>/summary.json  {dense: {accuracy}, sparse_untrained: {accuracy, recall}, warmup: {recall},
 *                        sparse: {accuracy, recall}, task, preset, seconds: {dense, warmup, sparse, evaluation, total},
 *                        cpu_seconds: {...the same}, plots}
 *   <out>/dense/, warmup/, sparse/   each stage's run folder (checkpoint, metrics.jsonl, loss/eval/indexer/recall.svg)
 *
 * Accuracy: greedy answers (the argmax at the "?" position) on the task's validation prompts, all full length, with
 * the stage's attention; recall: recall@k of the indexer against the dense attention at the answer position. Each
 * stage starts from the previous stage's checkpoint (`init`) and resumes its own, so a killed demo reruns where it
 * stopped. CPU seconds (process user + system time) are given beside the wall seconds, which a loaded machine
 * inflates.
 */
import * as path from "node:path"
import { Backend, InputError, Progress, Rng, writeFileAtomicSync } from "@ds/core"
import {
  answerAccuracy,
  answerRecall,
  byteTokenizer,
  disposeParameters,
  loadCheckpoint,
  type Model,
  needleSource,
  needleTask,
  type TrainingStage,
  trainProgram,
} from "@ds/model"
import { Clock, Effect } from "effect"

export interface DsaDemoPreset {
  /** Prompt length of the validation examples and the longest training prompt. */
  readonly contextLength: number
  /** Shortest training prompt of the dense stage (short contexts first teach the model what a needle is). */
  readonly denseMinContext: number
  /** Shortest training prompt of the two indexer stages (longer than top-k, so selection matters). */
  readonly indexerMinContext: number
  readonly batchSize: number
  readonly denseSteps: number
  readonly denseLearningRate: number
  readonly warmupSteps: number
  readonly warmupLearningRate: number
  readonly sparseSteps: number
  readonly sparseLearningRate: number
  /** Validation prompts each accuracy and recall is measured on. */
  readonly evalExamples: number
}

export const dsaDemoPresets: Readonly<Record<"quick" | "full", DsaDemoPreset>> = {
  quick: {
    contextLength: 256,
    denseMinContext: 16,
    indexerMinContext: 256,
    batchSize: 8,
    denseSteps: 500,
    denseLearningRate: 3e-3,
    warmupSteps: 120,
    warmupLearningRate: 1e-2,
    sparseSteps: 120,
    sparseLearningRate: 1e-3,
    evalExamples: 128,
  },
  full: {
    contextLength: 512,
    denseMinContext: 16,
    indexerMinContext: 512,
    batchSize: 8,
    denseSteps: 1500,
    denseLearningRate: 3e-3,
    warmupSteps: 200,
    warmupLearningRate: 1e-2,
    sparseSteps: 300,
    sparseLearningRate: 1e-3,
    evalExamples: 256,
  },
}

export interface DsaDemoOptions {
  /** The short preset (under 15 minutes of 2 cores). Default false. */
  readonly quick?: boolean
  /** Run folder. Default runs/dsa-demo (--quick) or runs/dsa-demo-full. */
  readonly out?: string
  readonly seed?: number
  /** Sizes to use instead of the quick/full preset (smoke tests, experiments). */
  readonly preset?: DsaDemoPreset
}

export const dsaDemoOutDir = (quick: boolean): string => path.join("runs", quick ? "dsa-demo" : "dsa-demo-full")

export interface DsaDemoSummary {
  readonly dense: { readonly accuracy: number }
  readonly sparse_untrained: { readonly accuracy: number; readonly recall: number }
  readonly warmup: { readonly recall: number }
  readonly sparse: { readonly accuracy: number; readonly recall: number }
  readonly task: string
  readonly index_topk: number
  readonly seconds: Readonly<Record<"dense" | "warmup" | "sparse" | "evaluation" | "total", number>>
  readonly cpu_seconds: Readonly<Record<"dense" | "warmup" | "sparse" | "evaluation" | "total", number>>
  readonly plots: ReadonlyArray<string>
}

type Phase = "dense" | "warmup" | "sparse" | "evaluation"

/** User + system CPU seconds of this process so far. */
const cpuSeconds = Effect.sync(() => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
})

const toInputError = (source: string) => (error: unknown) =>
  error instanceof InputError ? error : new InputError({ source, reason: String(error) })

/** Runs the demo (see the file comment); needs a started `Backend` and a `Progress` renderer. */
export const dsaDemoProgram = (options: DsaDemoOptions = {}) =>
  Effect.gen(function* () {
    yield* Backend
    const progress = yield* Progress
    const quick = options.quick === true
    const preset = options.preset ?? dsaDemoPresets[quick ? "quick" : "full"]
    const seed = options.seed ?? 0
    const runDir = options.out ?? dsaDemoOutDir(quick)
    const wall: Partial<Record<Phase, number>> = {}
    const cpu: Partial<Record<Phase, number>> = {}
    const timed = <A, E, R>(phase: Phase, effect: Effect.Effect<A, E, R>) =>
      Effect.gen(function* () {
        const [t0, c0] = [yield* Clock.currentTimeMillis, yield* cpuSeconds]
        const result = yield* effect
        wall[phase] = (wall[phase] ?? 0) + ((yield* Clock.currentTimeMillis) - t0) / 1000
        cpu[phase] = (cpu[phase] ?? 0) + (yield* cpuSeconds) - c0
        return result
      })
    const [started, cpuStarted] = [yield* Clock.currentTimeMillis, yield* cpuSeconds]
    const full = { contextLength: preset.contextLength }
    const examples = needleSource(byteTokenizer(), full, Rng.make(seed)).validation(preset.evalExamples)
    const maxLength = preset.contextLength

    const stage = (name: "dense" | "warmup" | "sparse", trainingStage: TrainingStage, init: string | undefined) =>
      timed(
        name,
        trainProgram({
          out: path.join(runDir, name),
          data: needleTask({
            contextLength: preset.contextLength,
            minContextLength: name === "dense" ? preset.denseMinContext : preset.indexerMinContext,
          }),
          preset: "long",
          stage: trainingStage,
          steps: { dense: preset.denseSteps, warmup: preset.warmupSteps, sparse: preset.sparseSteps }[name],
          batchSize: preset.batchSize,
          learningRate: {
            dense: preset.denseLearningRate,
            warmup: preset.warmupLearningRate,
            sparse: preset.sparseLearningRate,
          }[name],
          warmupSteps: 20,
          seed,
          evalEvery: 0,
          evalExamples: Math.min(32, preset.evalExamples),
          saveEvery: 50,
          resume: true,
          ...(init === undefined ? {} : { init }),
          onEvent: (event) =>
            event.type === "step"
              ? progress.update({
                  task: name,
                  done: event.step,
                  total: event.totalSteps,
                  unit: "step",
                  info: {
                    loss: Number(event.loss.toFixed(3)),
                    ...(event.recall === undefined ? {} : { recall: Number(event.recall.toFixed(3)) }),
                  },
                })
              : event.type === "done"
                ? progress.finish(name)
                : Effect.void,
        }),
      )

    /** Loads a stage's checkpoint, measures it, and frees it. */
    const measure = <A>(name: string, f: (model: Model) => A) =>
      timed(
        "evaluation",
        Effect.acquireUseRelease(
          Effect.map(loadCheckpoint(path.join(runDir, name, "checkpoint")), (c) => ({
            config: c.config,
            params: c.params,
          })),
          (model) => Effect.try({ try: () => f(model), catch: toInputError(`${name} evaluation`) }),
          (model) => Effect.sync(() => disposeParameters(model.params)),
        ),
      )

    yield* stage("dense", "dense", undefined)
    const dense = yield* measure("dense", (model) => ({
      accuracy: answerAccuracy(model, examples, "dense", { maxLength }),
      untrained: {
        accuracy: answerAccuracy(model, examples, "topk", { maxLength }),
        recall: answerRecall(model, examples, { maxLength }),
      },
      topk: model.config.index_topk,
    }))
    yield* Effect.logInfo(
      `dense ${dense.accuracy.toFixed(3)}; top-${dense.topk} with the untrained indexer ${dense.untrained.accuracy.toFixed(3)} (recall ${dense.untrained.recall.toFixed(3)})`,
    )
    yield* stage("warmup", "indexer-warmup", path.join(runDir, "dense", "checkpoint"))
    const warmup = yield* measure("warmup", (model) => ({ recall: answerRecall(model, examples, { maxLength }) }))
    yield* stage("sparse", "sparse", path.join(runDir, "warmup", "checkpoint"))
    const sparse = yield* measure("sparse", (model) => ({
      accuracy: answerAccuracy(model, examples, "topk", { maxLength }),
      recall: answerRecall(model, examples, { maxLength }),
    }))
    const total = ((yield* Clock.currentTimeMillis) - started) / 1000
    const cpuTotal = (yield* cpuSeconds) - cpuStarted
    const round = (x: number | undefined) => Math.round((x ?? 0) * 10) / 10
    const phases = (values: Partial<Record<Phase, number>>, all: number) => ({
      dense: round(values.dense),
      warmup: round(values.warmup),
      sparse: round(values.sparse),
      evaluation: round(values.evaluation),
      total: round(all),
    })
    const summary: DsaDemoSummary = {
      dense: { accuracy: dense.accuracy },
      sparse_untrained: dense.untrained,
      warmup,
      sparse,
      task: needleTask(full).name,
      index_topk: dense.topk,
      seconds: phases(wall, total),
      cpu_seconds: phases(cpu, cpuTotal),
      plots: [
        "dense/loss.svg",
        "warmup/indexer.svg",
        "warmup/recall.svg",
        "sparse/loss.svg",
        "sparse/indexer.svg",
        "sparse/recall.svg",
      ],
    }
    const file = path.join(runDir, "summary.json")
    yield* Effect.try({
      try: () => writeFileAtomicSync(file, `${JSON.stringify(summary, null, 2)}\n`),
      catch: toInputError(file),
    })
    return summary
  })
