/**
 * The training driver (docs/selfverify.md §10): one tiny model learns all three roles of DeepSeekMath-V2 on the
 * arithmetic proof domain, stage after stage,
 *
 *   cold start      SFT on the oracle's data of the three roles (data.ts), fresh model + domain tokenizer
 *   per iteration   verifier GRPO        R = R_format · (1 − |s' − s|)        s: oracle label
 *                   meta-verifier GRPO   R = R_format · (1 − |ms' − ms|)      ms: exact meta grade
 *                   enhanced verifier    R · ms, ms by the CURRENT meta-verifier (optional, steps 0 = off)
 *                   generator GRPO       R = R_format · (α·s + β·(1 − |s' − s|)·ms), s and ms by the CURRENT
 *                                        verifier / meta-verifier (the model at the start of the stage, frozen,
 *                                        through LanguageModel), or the oracle
 *                   RFT                  the full-reward samples of the iteration's GRPO rollouts, all roles, in
 *                                        one SFT set (rft.ts) plus replayed cold-start examples, one model
 *   iteration i+1 starts from iteration i's last model.
 *
 * Every stage writes its folder (`<out>/cold-start`, `<out>/iter-1/verifier`, …: checkpoint/, metrics.jsonl, SVG
 * plots, GRPO rollouts) and a done marker with its held-out measures (measure.ts); a rerun skips done stages and a
 * killed stage resumes from its checkpoint (stage.ts). Rollout rewards for RFT are recomputed exactly: verifier and
 * meta samples against their labels, generator samples with the oracle as judge (the demo's RFT keeps only samples
 * that are really right). Finally the last model auto-labels held-out proofs by scaled verification (§7.1).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { ConfigError, Progress, Rng, readJsonl, writeJsonlAtomic } from "@ds/core"
import {
  decodeGrpoConfig,
  type GrpoTask,
  RolloutRecordSchema,
  recordCompletion,
  recordPrompt,
  runGrpo,
  scoreRewards,
  toScoredSample,
} from "@ds/grpo"
import {
  decodeModelConfig,
  disposeParameters,
  initParameters,
  loadCheckpoint,
  type Model,
  makeLocalLanguageModel,
  presets,
  saveCheckpoint,
  type TextTokenizer,
  trainProgram,
} from "@ds/model"
import { Clock, Effect, Layer, Schema } from "effect"
import { LanguageModel } from "effect/ai"
import type { ProblemOptions } from "../domain/proofs.ts"
import { autoLabel } from "../loops/autolabel.ts"
import { openStore } from "../loops/store.ts"
import { metaVerify } from "../roles.ts"
import type { PipelineConfig } from "./config.ts"
import { coldStartExamples, compactTemplates, type TrainingRole, toChatRecord } from "./data.ts"
import { heldOutExamples, type MeasureOptions, measureRoles, type RoleMeasures, splitOptions } from "./measure.ts"
import { type RftSample, rejectionFineTuningSet } from "./rft.ts"
import { resumableStage } from "./stage.ts"
import { generatorTask, metaVerifierTask, modelJudge, oracleJudge, verifierTask } from "./tasks.ts"
import { domainTokenizer } from "./tokenizer.ts"

export type StageName = "cold-start" | "verifier" | "meta" | "enhanced" | "generator" | "rft"

export interface StageRecord {
  readonly stage: StageName
  readonly iteration: number
  /** The stage's model (a checkpoint folder). */
  readonly checkpoint: string
  /** Held-out measures of that model. */
  readonly measures: RoleMeasures
  readonly steps: number
  readonly seconds: number
  /** RFT: kept / offered samples per role. */
  readonly kept?: Readonly<Record<TrainingRole, { readonly kept: number; readonly offered: number }>>
}

export interface AutolabelRecord {
  readonly n: number
  readonly m: number
  readonly k: number
  readonly proofs: number
  /** Labelled proofs whose label is the oracle's grade, over the labelled ones. */
  readonly agreement_with_oracle: number
  /** Labelled (not "needs-review") proofs over all. */
  readonly coverage: number
  readonly seconds: number
}

export interface PipelineReport {
  /** Every stage run, in order (cold start first). */
  readonly stages: ReadonlyArray<StageRecord>
  readonly autolabel: AutolabelRecord | undefined
}

const jsonlLine = Schema.Record(Schema.String, Schema.Unknown)

const problemOptionsOf = (config: PipelineConfig): ProblemOptions => ({ ...config.problems })

export const measureOptionsOf = (config: PipelineConfig): MeasureOptions => ({
  prompts: config.eval.prompts,
  seed: config.seed,
  maxNewTokens: {
    verifier: config.verifier.maxCompletionLength,
    meta: config.meta.maxCompletionLength,
    generator: config.generator.maxCompletionLength,
  },
  problemOptions: problemOptionsOf(config),
  templates: compactTemplates,
})

const loadModel = (checkpoint: string) =>
  Effect.map(loadCheckpoint(checkpoint), (c) => ({
    model: { config: c.config, params: c.params } satisfies Model,
    tokenizer: c.tokenizer as TextTokenizer,
  }))

/** Loads a checkpoint, runs `use`, frees the parameters however it ends. */
const withModel = <A, E, R>(
  checkpoint: string,
  use: (loaded: { model: Model; tokenizer: TextTokenizer }) => Effect.Effect<A, E, R>,
) =>
  Effect.acquireUseRelease(loadModel(checkpoint), use, (loaded) =>
    Effect.sync(() => disposeParameters(loaded.model.params)),
  )

/** Held-out measures (measure.ts) of the model at `checkpoint`. */
export const measureCheckpoint = (checkpoint: string, config: PipelineConfig) =>
  withModel(checkpoint, ({ model, tokenizer }) => measureRoles(model, tokenizer, measureOptionsOf(config)))

const sftProgress = (task: string) =>
  Effect.map(
    Effect.serviceOption(Progress),
    (progress) => (event: { type: string; step?: number; totalSteps?: number; loss?: number }) =>
      progress._tag === "Some" && event.type === "step"
        ? progress.value.update({
            task,
            done: event.step ?? 0,
            ...(event.totalSteps === undefined ? {} : { total: event.totalSteps }),
            unit: "step",
            info: { loss: Number((event.loss ?? Number.NaN).toFixed(3)) },
          })
        : Effect.void,
  )

/** SFT of `data` (a chat JSONL) from the checkpoint `init` into `dir` (resumes from `dir/checkpoint`). */
const sft = (
  dir: string,
  data: string,
  init: string,
  options: { steps: number; batchSize: number; learningRate: number; saveEvery: number; seed: number },
  task: string,
) =>
  Effect.gen(function* () {
    const onEvent = yield* sftProgress(task)
    const summary = yield* trainProgram({
      out: dir,
      data,
      init,
      steps: options.steps,
      batchSize: options.batchSize,
      learningRate: options.learningRate,
      warmupSteps: Math.min(20, Math.floor(options.steps / 10)),
      seed: options.seed,
      evalEvery: 0,
      evalExamples: 16,
      saveEvery: options.saveEvery,
      resume: true,
      onEvent,
    })
    const progress = yield* Effect.serviceOption(Progress)
    if (progress._tag === "Some") yield* progress.value.finish(task)
    return summary
  })

const elapsed = (since: number) => Effect.map(Clock.currentTimeMillis, (now) => (now - since) / 1000)

/** Cold start: the oracle's data of the three roles, the domain tokenizer, a fresh model, SFT. */
const coldStartStage = (config: PipelineConfig) => {
  const dir = path.join(config.out, "cold-start")
  return resumableStage(
    dir,
    "cold start",
    Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      const examples = coldStartExamples(
        Rng.make(config.seed).fork("cold-start"),
        config.coldStart.perRole,
        compactTemplates,
        splitOptions(problemOptionsOf(config), false),
      )
      const data = path.join(dir, "data.jsonl")
      yield* writeJsonlAtomic(
        data,
        jsonlLine,
        Rng.make(config.seed).fork("shuffle").shuffle(examples).map(toChatRecord),
      )
      const init = path.join(dir, "init")
      if (!fs.existsSync(init)) {
        const tokenizer = domainTokenizer(examples, config.model.vocabSize)
        const modelConfig = yield* Effect.try({
          try: () =>
            decodeModelConfig({
              ...presets[config.model.preset],
              max_seq_len: config.model.maxSeqLen,
              // Every key selected: DSA's top-k then equals dense attention (docs/attention.md §12), so the roles
              // are learnt without an untrained indexer choosing what each token may see.
              index_topk: config.model.maxSeqLen,
              vocab_size: tokenizer.vocabSize,
            }),
          catch: (e) => (e instanceof ConfigError ? e : new ConfigError({ field: "model", reason: String(e) })),
        })
        const params = initParameters(modelConfig, config.seed)
        yield* saveCheckpoint(init, { config: modelConfig, params, tokenizer }).pipe(
          Effect.ensuring(Effect.sync(() => disposeParameters(params))),
        )
      }
      yield* sft(dir, data, init, { ...config.coldStart, seed: config.seed }, "cold start")
      const checkpoint = path.join(dir, "checkpoint")
      return {
        stage: "cold-start",
        iteration: 0,
        checkpoint,
        measures: yield* measureCheckpoint(checkpoint, config),
        steps: config.coldStart.steps,
        seconds: yield* elapsed(started),
      } satisfies StageRecord
    }),
  )
}

type GrpoStageConfig = PipelineConfig["verifier"]

/** The settings of every role's GRPO: V3.2's stabilisers as the addition demo runs them (docs/grpo.md). */
const grpoConfigOf = (stage: GrpoStageConfig, seed: number) =>
  Effect.try({
    try: () =>
      decodeGrpoConfig({
        beta: 0.02,
        klEstimator: "unbiased",
        keepRouting: true,
        keepSamplingMask: true,
        temperature: 1,
        topP: 0.95,
        offPolicyMaskThreshold: 0.02,
        stepsPerGeneration: 2,
        maxSteps: stage.steps,
        promptsPerStep: stage.promptsPerStep,
        numGenerations: stage.numGenerations,
        learningRate: stage.learningRate,
        maxCompletionLength: stage.maxCompletionLength,
        saveSteps: stage.saveSteps,
        rewardWeights: [1],
        seed,
      }),
    catch: (e) => (e instanceof ConfigError ? e : new ConfigError({ field: "(grpo)", reason: String(e) })),
  })

/** The model at `checkpoint`, frozen, as the `LanguageModel` the judges ask (greedy, short answers). */
const judgeLayer = (model: Model, tokenizer: TextTokenizer, maxNewTokens: number) =>
  Layer.effect(
    LanguageModel.LanguageModel,
    makeLocalLanguageModel({ model, tokenizer }, { temperature: 0, maxNewTokens }),
  )

/** One role's GRPO from `from` into `dir`. */
const grpoStage = (
  config: PipelineConfig,
  stage: Exclude<StageName, "cold-start" | "rft">,
  iteration: number,
  from: string,
) => {
  const dir = path.join(config.out, `iter-${iteration}`, stage)
  const settings: GrpoStageConfig = config[stage]
  const seed = config.seed + 1000 * iteration
  const taskOptions = {
    seed,
    evalCount: 8,
    templates: compactTemplates,
    problemOptions: splitOptions(problemOptionsOf(config), false),
  }
  return resumableStage(
    dir,
    `${stage} GRPO (iteration ${iteration})`,
    Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      const grpo = yield* grpoConfigOf(settings, seed)
      yield* withModel(from, ({ model, tokenizer }) =>
        Effect.gen(function* () {
          const judge = judgeLayer(model, tokenizer, config.verifier.maxCompletionLength)
          const run = <E, R>(task: GrpoTask<E, R>) =>
            Effect.flatMap(runGrpo({ runDir: dir, config: grpo, initial: model, tokenizer, task }), (result) =>
              Effect.sync(() => disposeParameters(result.model.params)),
            )
          switch (stage) {
            case "verifier":
              return yield* run(verifierTask(tokenizer, taskOptions))
            case "meta":
              return yield* run(metaVerifierTask(tokenizer, taskOptions))
            case "enhanced":
              return yield* run(
                verifierTask(tokenizer, {
                  ...taskOptions,
                  metaScore: (problem, proof, analysis) =>
                    Effect.map(
                      metaVerify(problem.statement, proof, analysis, { templates: compactTemplates }),
                      (meta) => meta.parse.score ?? 0,
                    ),
                }),
              ).pipe(Effect.provide(judge))
            case "generator": {
              const weights = { alpha: config.generator.alpha, beta: config.generator.beta }
              return config.generator.judge === "oracle"
                ? yield* run(generatorTask(tokenizer, oracleJudge, { ...taskOptions, weights }))
                : yield* run(generatorTask(tokenizer, modelJudge(compactTemplates), { ...taskOptions, weights })).pipe(
                    Effect.provide(judge),
                  )
            }
          }
        }),
      )
      const checkpoint = path.join(dir, "checkpoint")
      return {
        stage,
        iteration,
        checkpoint,
        measures: yield* measureCheckpoint(checkpoint, config),
        steps: settings.steps,
        seconds: yield* elapsed(started),
      } satisfies StageRecord
    }),
  )
}

/** The rollouts of a GRPO stage folder with their exact rewards, as RFT samples. */
const rolloutSamples = (dir: string, role: TrainingRole, tokenizer: TextTokenizer, seed: number) =>
  Effect.gen(function* () {
    const rolloutDir = path.join(dir, "rollouts")
    if (!fs.existsSync(rolloutDir)) return []
    const options = { seed }
    const task =
      role === "verifier"
        ? verifierTask(tokenizer, options)
        : role === "meta"
          ? metaVerifierTask(tokenizer, options)
          : generatorTask(tokenizer, oracleJudge, options)
    const samples: Array<RftSample> = []
    for (const file of fs.readdirSync(rolloutDir).sort()) {
      const records = yield* readJsonl(path.join(rolloutDir, file), RolloutRecordSchema)
      const table = yield* scoreRewards(task.rewards, records.map(toScoredSample))
      samples.push(
        ...records.map((record, i) => ({
          role,
          prompt: recordPrompt(record),
          completion: recordCompletion(record),
          reward: table.total[i] ?? 0,
        })),
      )
    }
    return samples
  })

const roleOfStage: Record<Exclude<StageName, "cold-start" | "rft">, TrainingRole> = {
  verifier: "verifier",
  meta: "meta",
  enhanced: "verifier",
  generator: "generator",
}

/** RFT: the iteration's full-reward samples of every role, plus replayed cold-start examples, SFT from `from`. */
const rftStage = (
  config: PipelineConfig,
  iteration: number,
  from: string,
  grpoStages: ReadonlyArray<Exclude<StageName, "cold-start" | "rft">>,
) => {
  const dir = path.join(config.out, `iter-${iteration}`, "rft")
  return resumableStage(
    dir,
    `RFT (iteration ${iteration})`,
    Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      const tokenizer = (yield* loadCheckpoint(from).pipe(
        Effect.tap((c) => Effect.sync(() => disposeParameters(c.params))),
      )).tokenizer as TextTokenizer
      const samples: Array<RftSample> = []
      for (const stage of grpoStages)
        samples.push(
          ...(yield* rolloutSamples(
            path.join(config.out, `iter-${iteration}`, stage),
            roleOfStage[stage],
            tokenizer,
            config.seed,
          )),
        )
      const set = rejectionFineTuningSet(samples, config.seed + iteration, config.rft.threshold)
      // At least one batch, so an iteration whose rollouts earned no full reward still has a set to train on.
      const replayCount = Math.max(
        Math.ceil(config.rft.batchSize / 3),
        Math.ceil((set.records.length * config.rft.replay) / 3),
      )
      const replay = coldStartExamples(
        Rng.make(config.seed).fork("rft-replay").fork(iteration),
        replayCount,
        compactTemplates,
        splitOptions(problemOptionsOf(config), false),
      ).map(toChatRecord)
      const data = path.join(dir, "data.jsonl")
      yield* writeJsonlAtomic(
        data,
        jsonlLine,
        Rng.make(config.seed)
          .fork("rft-mix")
          .shuffle([...set.records.map((r) => ({ ...r })), ...replay]),
      )
      yield* sft(
        dir,
        data,
        from,
        { ...config.rft, saveEvery: Math.max(1, Math.ceil(config.rft.steps / 4)), seed: config.seed },
        "RFT",
      )
      const checkpoint = path.join(dir, "checkpoint")
      return {
        stage: "rft",
        iteration,
        checkpoint,
        measures: yield* measureCheckpoint(checkpoint, config),
        steps: config.rft.steps,
        seconds: yield* elapsed(started),
        kept: set.kept,
      } satisfies StageRecord
    }),
  )
}

/** Scaled-verification labelling of held-out proofs by the model at `checkpoint`, scored against the oracle. */
const autolabelStage = (config: PipelineConfig, checkpoint: string) => {
  const dir = path.join(config.out, "autolabel")
  const { n, m, k } = config.autolabel
  return resumableStage(
    dir,
    "auto-labelling",
    Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      const proofs = heldOutExamples("verifier", {
        ...measureOptionsOf(config),
        prompts: config.autolabel.proofs,
        seed: config.seed + 7,
      })
      const labels = yield* withModel(checkpoint, ({ model, tokenizer }) =>
        Effect.gen(function* () {
          const store = yield* openStore(path.join(dir, "state.jsonl"))
          const labels = yield* Effect.forEach(proofs, (example, i) =>
            autoLabel(
              store,
              `p${i}`,
              example.problem.statement,
              example.proof,
              { n, m, k, concurrency: 1 },
              {
                templates: compactTemplates,
              },
            ),
          )
          yield* store.finishProgress()
          return labels
        }).pipe(
          Effect.provide(
            Layer.effect(
              LanguageModel.LanguageModel,
              makeLocalLanguageModel(
                { model, tokenizer },
                {
                  temperature: config.autolabel.temperature,
                  maxNewTokens: config.verifier.maxCompletionLength,
                  seed: config.seed,
                },
              ),
            ),
          ),
        ),
      )
      const labelled = labels
        .map((l, i) => ({ label: l.label, oracle: proofs[i]!.label }))
        .filter((l) => l.label !== "needs-review")
      return {
        n,
        m,
        k,
        proofs: proofs.length,
        agreement_with_oracle:
          labelled.length === 0 ? Number.NaN : labelled.filter((l) => l.label === l.oracle).length / labelled.length,
        coverage: proofs.length === 0 ? Number.NaN : labelled.length / proofs.length,
        seconds: yield* elapsed(started),
      } satisfies AutolabelRecord
    }),
  )
}

/** Runs (or resumes) the whole driver; needs a started `Backend` (and a `Progress` renderer for bars). */
export const trainingPipeline = (config: PipelineConfig) =>
  Effect.gen(function* () {
    const stages: Array<StageRecord> = [yield* coldStartStage(config)]
    for (let iteration = 1; iteration <= config.iterations; iteration++) {
      const ran: Array<Exclude<StageName, "cold-start" | "rft">> = []
      for (const stage of ["verifier", "meta", "enhanced", "generator"] as const) {
        if (config[stage].steps === 0) continue
        stages.push(yield* grpoStage(config, stage, iteration, stages[stages.length - 1]!.checkpoint))
        ran.push(stage)
      }
      if (config.rft.steps > 0)
        stages.push(yield* rftStage(config, iteration, stages[stages.length - 1]!.checkpoint, ran))
    }
    const autolabel =
      config.autolabel.proofs === 0 ? undefined : yield* autolabelStage(config, stages[stages.length - 1]!.checkpoint)
    return { stages, autolabel } satisfies PipelineReport
  })
