/**
 * The `ds agentdata demo` recipe (docs/agentdata.md §14): agentic task synthesis, SFT on oracle trajectories and
 * multi-turn GRPO, end to end on a tiny model.
 *
 *   1. synthesize  price-lookup tasks (@ds/agentdata `priceLookup`, through the general-agent synthesis loop), split
 *                  by unit into train (SFT and GRPO), validation (SFT early stopping) and test (every pass rate);
 *   2. SFT         a fresh tiny DeepSeek-V3.2 (sft-stage.ts, @ds/model `trainProgram`) on one example per oracle
 *                  turn (the tool results in the prompt, no loss on them) until its validation pass rate reaches
 *                  the target, so GRPO starts from a policy that is right part of the time;
 *   3. GRPO        @ds/grpo `runGrpo` with the multi-turn rollout (`multiTurnRollouts`): the model writes DSML tool
 *                  calls, a `ToolEnvironment` runs them on the task's own SQLite copy, the results are appended and
 *                  masked out of the loss, and the verifier's verdict is the reward.
 *
 *   pass rate = fraction of test tasks whose GREEDY episode the verifier accepts
 *
 *   <out>/summary.json  {tasks: {train, validation, test, environments, domain}, sft: {pass_rate, validation_pass_rate,
 *                        steps}, grpo: {pass_rate_before, pass_rate_after, steps}, seconds: {synth, sft, grpo, total}}
 *   <out>/sft/, <out>/grpo/   the two runs (metrics, plots, checkpoints, rollouts)
 *
 * Rerunning after a kill resumes both stages from their checkpoints (the tasks are a function of the seed).
 */
import { mkdirSync } from "node:fs"
import * as path from "node:path"
import { loadRuntimes, priceLookup, type SynthesizedUnit, synthesizeDomain } from "@ds/agentdata"
import { oracleTurnExamples, ToolEnvironment, type ToolEnvOptions } from "@ds/agentdata/rl"
import { Backend, ConfigError, Rng, writeFileAtomicSync } from "@ds/core"
import {
  decodeGrpoConfig,
  episodeReward,
  evaluatePolicy,
  type GrpoConfig,
  type GrpoConfigInput,
  type GrpoTask,
  multiTurnRollouts,
  RunFileError,
  runGrpo,
  type TaskPrompt,
} from "@ds/grpo"
import { disposeParameters, type Model, type ModelConfig, specialTokens, type TextTokenizer } from "@ds/model"
import { Clock, Effect } from "effect"
import { sftStage } from "./sft-stage.ts"

export interface AgentDemoPreset {
  readonly trainTasks: number
  readonly validationTasks: number
  readonly testTasks: number
  readonly sftChunkSteps: number
  readonly sftMaxSteps: number
  readonly sftTargetAccuracy: number
  readonly sftBatch: number
  readonly sftLearningRate: number
  readonly sftWarmupSteps: number
  readonly grpo: GrpoConfigInput
}

export const agentDemoPresets: Readonly<Record<"quick" | "full", AgentDemoPreset>> = {
  quick: {
    trainTasks: 200,
    validationTasks: 24,
    testTasks: 48,
    sftChunkSteps: 25,
    sftMaxSteps: 800,
    sftTargetAccuracy: 0.3,
    sftBatch: 8,
    sftLearningRate: 5e-3,
    sftWarmupSteps: 20,
    grpo: {
      maxSteps: 30,
      promptsPerStep: 4,
      numGenerations: 8,
      stepsPerGeneration: 2,
      learningRate: 1e-3,
      saveSteps: 5,
    },
  },
  full: {
    trainTasks: 600,
    validationTasks: 48,
    testTasks: 128,
    sftChunkSteps: 25,
    sftMaxSteps: 1500,
    sftTargetAccuracy: 0.3,
    sftBatch: 16,
    sftLearningRate: 5e-3,
    sftWarmupSteps: 20,
    grpo: {
      maxSteps: 100,
      promptsPerStep: 8,
      numGenerations: 8,
      stepsPerGeneration: 2,
      learningRate: 1e-3,
      saveSteps: 10,
    },
  },
}

export interface AgentDemoOptions {
  readonly quick?: boolean
  /** Run folder. Default runs/agentdata-demo (both presets; `--out` to keep two). */
  readonly out?: string
  readonly seed?: number
  /** Sizes instead of the quick/full preset (tests, experiments). */
  readonly preset?: AgentDemoPreset
}

export interface AgentDemoSummary {
  readonly tasks: {
    readonly domain: string
    readonly environments: number
    readonly train: number
    readonly validation: number
    readonly test: number
  }
  readonly sft: { readonly pass_rate: number; readonly validation_pass_rate: number; readonly steps: number }
  readonly grpo: { readonly pass_rate_before: number; readonly pass_rate_after: number; readonly steps: number }
  readonly seconds: { readonly synth: number; readonly sft: number; readonly grpo: number; readonly total: number }
}

export const agentDemoOutDir = path.join("runs", "agentdata-demo")

/** The tool environment of the demo: no tools preamble (the tiny model learns its two tools from SFT), 3 turns. */
export const demoEnvOptions: ToolEnvOptions = { listTools: false, maxTurns: 3 }

/**
 * A byte-level BPE of this size, trained on the SFT data, writes the DSML markup in a few tokens per tag (plain bytes
 * take ~450 tokens per episode, ~10x the training cost).
 */
export const demoVocabSize = 512

/** Tokens of the longest demo episode (prompt, two turns, one tool result) under the demo's BPE fit in this context. */
export const demoContext = 192

/** The tiny preset with the context the transcripts need and dense attention (DSA top-k = the context). */
export const demoModelOverrides: Partial<ModelConfig> = { max_seq_len: demoContext, index_topk: demoContext }

export interface TaskSplit {
  readonly train: ReadonlyArray<SynthesizedUnit>
  readonly validation: ReadonlyArray<SynthesizedUnit>
  readonly test: ReadonlyArray<SynthesizedUnit>
}

/** `count` price-lookup units from unit `from` on: one environment and one task each, a function of the seed. */
export const priceUnits = (seed: number, from: number, count: number): Array<SynthesizedUnit> =>
  Array.from({ length: count }, (_, i) => {
    const unit = from + i
    const built = synthesizeDomain(
      priceLookup,
      Rng.make(seed).fork(priceLookup.name).fork(unit),
      `${priceLookup.name}-${unit}`,
      { seed, category: "general", unit, tasks: 1 },
      1,
    )
    if (built === undefined) throw new ConfigError({ field: "seed", reason: `unit ${unit} did not synthesize` })
    return built
  })

/** Train, validation and test units (disjoint unit ranges). */
export const splitTasks = (
  seed: number,
  preset: Pick<AgentDemoPreset, "trainTasks" | "validationTasks" | "testTasks">,
) => ({
  train: priceUnits(seed, 0, preset.trainTasks),
  validation: priceUnits(seed, preset.trainTasks, preset.validationTasks),
  test: priceUnits(seed, preset.trainTasks + preset.validationTasks, preset.testTasks),
})

const firstTask = (unit: SynthesizedUnit) => {
  const task = unit.tasks[0]
  const record = unit.records[0]
  if (task === undefined || record === undefined)
    throw new ConfigError({ field: "tasks", reason: `${unit.env.id} has no task` })
  return { task, record }
}

const stripPrefix = (text: string, prefix: string) => (text.startsWith(prefix) ? text.slice(prefix.length) : text)
const stripSuffix = (text: string, suffix: string) => (text.endsWith(suffix) ? text.slice(0, -suffix.length) : text)

/**
 * SFT data as JSONL `{prompt, completion}` lines: one example per oracle turn of the train units (oracle-turns.ts
 * in @ds/agentdata). `trainProgram` adds BOS before the prompt and EOS after the completion, so they are cut here.
 */
export const agentSftJsonl = (split: TaskSplit): string =>
  split.train
    .flatMap((unit) => {
      const { task, record } = firstTask(unit)
      return oracleTurnExamples(unit.env, task, record, demoEnvOptions)
    })
    .map((e) =>
      JSON.stringify({
        prompt: stripPrefix(e.prompt, specialTokens.bos),
        completion: stripSuffix(e.completion, specialTokens.eos),
      }),
    )
    .map((line) => `${line}\n`)
    .join("")

const promptOf = (tokenizer: TextTokenizer, unit: SynthesizedUnit): TaskPrompt => {
  const episode = new ToolEnvironment(unit.env, firstTask(unit).task, demoEnvOptions)
  const text = episode.prompt()
  episode.close()
  return { id: unit.env.id, text, tokens: tokenizer.encode(text), metadata: {} }
}

/** The GRPO task: train prompts from `split.train`, evaluation on `evalUnits`, multi-turn tool rollouts. */
export const agentGrpoTask = (
  tokenizer: TextTokenizer,
  split: TaskSplit,
  evalUnits: ReadonlyArray<SynthesizedUnit> = split.test,
): GrpoTask => {
  const units = new Map([...split.train, ...split.validation, ...split.test].map((u) => [u.env.id, u]))
  const train = split.train.map((u) => promptOf(tokenizer, u))
  const eos = tokenizer.eosId
  return {
    name: `agentdata-${priceLookup.name}`,
    trainPrompts: (rng, count) => rng.shuffle(train).slice(0, count),
    evalPrompts: evalUnits.map((u) => promptOf(tokenizer, u)),
    rewards: [episodeReward],
    stopTokens: eos === undefined ? [] : [eos],
    rollout: multiTurnRollouts({
      open: (prompt) => {
        const unit = units.get(prompt.id)
        if (unit === undefined) throw new ConfigError({ field: "prompt", reason: `no task ${prompt.id}` })
        return new ToolEnvironment(unit.env, firstTask(unit).task, demoEnvOptions)
      },
      maxTurns: demoEnvOptions.maxTurns ?? 3,
      maxTotalTokens: demoContext,
    }),
  }
}

/** Per-turn budget: the longest oracle turn is ~30 tokens under the demo's BPE. No routing replay or kept sets (see multi-turn.ts). */
export const agentGrpoConfig = (preset: AgentDemoPreset, seed: number): GrpoConfig =>
  decodeGrpoConfig({
    maxCompletionLength: 64,
    keepRouting: false,
    keepSamplingMask: false,
    temperature: 1,
    seed,
    ...preset.grpo,
  })

/** Greedy pass rate of `model` on the task's evaluation prompts. */
export const passRate = (model: Model, tokenizer: TextTokenizer, task: GrpoTask, config: GrpoConfig, seed: number) =>
  Effect.map(
    evaluatePolicy(model, tokenizer, task, {
      samples: 0,
      sampling: { temperature: config.temperature },
      maxNewTokens: config.maxCompletionLength,
      rng: Rng.make(seed).fork("eval"),
    }),
    (e) => e.accuracy,
  )

const writeSummary = (file: string, summary: AgentDemoSummary) =>
  Effect.try({
    try: () => writeFileAtomicSync(file, `${JSON.stringify(summary, null, 2)}\n`),
    catch: (error) => new RunFileError({ path: file, reason: String(error) }),
  })

const seconds = (from: number, to: number) => Math.round((to - from) / 100) / 10

/** Runs the demo (see the file comment); needs a started `Backend` and a `Progress` renderer. */
export const agentDemoProgram = (options: AgentDemoOptions = {}) =>
  Effect.gen(function* () {
    yield* Backend
    yield* loadRuntimes
    const preset = options.preset ?? agentDemoPresets[options.quick === true ? "quick" : "full"]
    const seed = options.seed ?? 0
    const runDir = options.out ?? agentDemoOutDir
    const started = yield* Clock.currentTimeMillis
    const split = yield* Effect.try({
      try: () => splitTasks(seed, preset),
      catch: (error) =>
        error instanceof ConfigError ? error : new ConfigError({ field: "tasks", reason: String(error) }),
    })
    const config = yield* Effect.try({
      try: () => agentGrpoConfig(preset, seed),
      catch: (error) =>
        error instanceof ConfigError ? error : new ConfigError({ field: "(root)", reason: String(error) }),
    })
    const data = path.join(runDir, "sft-data.jsonl")
    yield* Effect.try({
      try: () => {
        mkdirSync(runDir, { recursive: true })
        writeFileAtomicSync(data, agentSftJsonl(split))
      },
      catch: (error) => new RunFileError({ path: data, reason: String(error) }),
    })
    const synthDone = yield* Clock.currentTimeMillis
    const sft = yield* sftStage({
      dir: path.join(runDir, "sft"),
      data,
      tokenizerVocabSize: demoVocabSize,
      chunkSteps: preset.sftChunkSteps,
      maxSteps: preset.sftMaxSteps,
      targetAccuracy: preset.sftTargetAccuracy,
      batchSize: preset.sftBatch,
      learningRate: preset.sftLearningRate,
      warmupSteps: preset.sftWarmupSteps,
      seed,
      modelOverrides: demoModelOverrides,
      validationAccuracy: (model, tokenizer) =>
        passRate(model, tokenizer, agentGrpoTask(tokenizer, split, split.validation), config, seed),
    })
    const { model: initial, tokenizer } = sft
    const task = agentGrpoTask(tokenizer, split)
    const run = Effect.gen(function* () {
      const sftDone = yield* Clock.currentTimeMillis
      const before = yield* passRate(initial, tokenizer, task, config, seed)
      yield* Effect.logInfo(`SFT: test pass rate ${before.toFixed(3)}`)
      const result = yield* runGrpo({ runDir: path.join(runDir, "grpo"), config, initial, tokenizer, task })
      const after = yield* passRate(result.model, tokenizer, task, config, seed).pipe(
        Effect.ensuring(Effect.sync(() => disposeParameters(result.model.params))),
      )
      const finished = yield* Clock.currentTimeMillis
      const summary: AgentDemoSummary = {
        tasks: {
          domain: priceLookup.name,
          environments: split.train.length + split.validation.length + split.test.length,
          train: split.train.length,
          validation: split.validation.length,
          test: split.test.length,
        },
        sft: { pass_rate: before, validation_pass_rate: sft.validationAccuracy, steps: sft.steps },
        grpo: { pass_rate_before: before, pass_rate_after: after, steps: result.state.step },
        seconds: {
          synth: seconds(started, synthDone),
          sft: seconds(synthDone, sftDone),
          grpo: seconds(sftDone, finished),
          total: seconds(started, finished),
        },
      }
      yield* writeSummary(path.join(runDir, "summary.json"), summary)
      return summary
    })
    return yield* run.pipe(Effect.ensuring(Effect.sync(() => disposeParameters(initial.params))))
  })
