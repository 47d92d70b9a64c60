/**
 * The one trainer checkpoint of this project: what a killed training run (SFT with `trainProgram`, GRPO with
 * @ds/grpo's trainer, anything that trains later) needs to continue the same curve (docs/model.md §8).
 *
 *   <dir>/config.json, model.safetensors, tokenizer.json   the model (checkpoint.ts's format)
 *         optimizer.safetensors                            AdamW moments `m.<param>`, `v.<param>` (F32, param shape)
 *         trainer_state.json                               TrainerState below
 *
 * The whole folder is written by `saveCheckpoint` (temporary folder, then rename), so a kill leaves either the
 * previous checkpoint or the new one, never a mix. Which parameters train is decided here, once
 * (`trainableParameters`): every parameter that takes gradients (`isGradientTrained`: not the MoE gate biases,
 * which the aux-loss-free balancing moves) except the lightning indexer's, which no language-model or policy loss
 * reaches (its top-k is not differentiable; docs/attention.md §9). The moments saved are exactly those parameters.
 * A run of another training stage (stages.ts: the indexer warm-up trains only the indexer, the sparse stage
 * everything) trains that stage's set instead; trainer_state.json records the stage, and a resume checks it.
 *
 * Random choices of step s derive from (seed, s) (core's counter-based `Rng.fork`), so the generator's state is
 * its seed. `configHash` fingerprints the settings that shape the curve; a resume under other settings fails with
 * `TrainerStateError` instead of silently continuing a different run.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { type CheckpointError, Safetensors, type SafetensorsError, type TensorData } from "@ds/core"
import type * as tf from "@tensorflow/tfjs"
import { Effect, Option, Schema } from "effect"
import { type Checkpoint, type CheckpointLoadError, loadCheckpoint, saveCheckpoint } from "../checkpoint.ts"
import { type AdamWState, initAdamW } from "../optimizer.ts"
import { disposeParameters, isGradientTrained, type Parameters } from "../params.ts"
import type { TextTokenizer } from "../tokenizer/tokenizer.ts"
import type { Model } from "../transformer.ts"
import { defaultStage, isTrainedInStage, type TrainingStage, trainingStages } from "./stages.ts"

export const trainerStateFile = "trainer_state.json"
export const optimizerFile = "optimizer.safetensors"

/** Version of the trainer_state.json layout. */
export const trainerStateFormat = 1

export const TrainerStateSchema = Schema.Struct({
  format: Schema.Literal(trainerStateFormat),
  /** Which trainer wrote it ("sft", "grpo", ...): a GRPO run never resumes an SFT state or the reverse. */
  trainer: Schema.String,
  /** Trainer steps completed (SFT: optimizer steps; GRPO: rollout batches). */
  step: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** AdamW updates applied (the bias-correction step). */
  optimizerStep: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** Seed of every random choice: step s draws from Rng(seed).fork(…).fork(s), so this is the generator state. */
  seed: Schema.Int,
  /** `configHash` of the settings that shape the curve. */
  configHash: Schema.String,
  /** Names of the trained parameters, sorted: the moments in optimizer.safetensors. */
  trainable: Schema.Array(Schema.String),
  /** The training stage (stages.ts); absent in states written before stages existed, which were "sft". */
  stage: Schema.optional(Schema.Literals(trainingStages)),
})
export type TrainerState = typeof TrainerStateSchema.Type

/** A trainer_state.json that is unreadable, malformed, or does not belong to the run resuming from it. */
export class TrainerStateError extends Schema.TaggedError<TrainerStateError>()("TrainerStateError", {
  path: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

/** The parameters an optimizer trains in `stage` (see the file comment; default "sft"), by name. */
export const trainableParameters = (
  params: Parameters,
  stage: TrainingStage = defaultStage,
): Map<string, tf.Variable> =>
  new Map([...params].filter(([name, v]) => v.trainable && isGradientTrained(name) && isTrainedInStage(stage, name)))

/** Zero AdamW moments for `trainableParameters(model.params, stage)`. */
export const freshOptimizer = (model: Model, stage: TrainingStage = defaultStage): AdamWState =>
  initAdamW(trainableParameters(model.params, stage))

const canonical = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonical)
  if (value !== null && typeof value === "object")
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined && typeof v !== "function")
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, canonical(v)]),
    )
  return value
}

/** sha256 (first 16 hex digits) of the key-sorted JSON of `settings`. */
export const configHash = (settings: unknown): string =>
  createHash("sha256")
    .update(JSON.stringify(canonical(settings)))
    .digest("hex")
    .slice(0, 16)

export interface TrainerCheckpoint {
  readonly model: Model
  readonly tokenizer: TextTokenizer | undefined
  readonly optimizer: AdamWState
  readonly state: TrainerState
}

/** What `saveTrainerCheckpoint` records beside the model. */
export interface TrainerStateInput {
  readonly trainer: string
  readonly step: number
  readonly seed: number
  readonly configHash: string
  /** The training stage (`trainProgram` always records it; other trainers, e.g. GRPO, leave it out). */
  readonly stage?: TrainingStage
}

const momentTensors = (optimizer: AdamWState): Map<string, TensorData> => {
  const moments = new Map<string, TensorData>()
  const shapeOf = (name: string) => optimizer.shapes.get(name) ?? []
  for (const [name, m] of optimizer.m) moments.set(`m.${name}`, { dtype: "F32", shape: shapeOf(name), data: m })
  for (const [name, v] of optimizer.v) moments.set(`v.${name}`, { dtype: "F32", shape: shapeOf(name), data: v })
  return moments
}

/** Writes model, tokenizer, optimizer moments and trainer state to `dir`, atomically (see the file comment). */
export const saveTrainerCheckpoint = (
  dir: string,
  checkpoint: { readonly model: Model; readonly tokenizer: TextTokenizer | undefined; readonly optimizer: AdamWState },
  input: TrainerStateInput,
): Effect.Effect<TrainerState, CheckpointError> => {
  const state: TrainerState = {
    format: trainerStateFormat,
    trainer: input.trainer,
    step: input.step,
    optimizerStep: checkpoint.optimizer.step,
    seed: input.seed,
    configHash: input.configHash,
    trainable: [...checkpoint.optimizer.m.keys()].sort(),
    ...(input.stage === undefined ? {} : { stage: input.stage }),
  }
  const files: Checkpoint = {
    config: checkpoint.model.config,
    params: checkpoint.model.params,
    ...(checkpoint.tokenizer === undefined ? {} : { tokenizer: checkpoint.tokenizer }),
  }
  return Effect.as(
    saveCheckpoint(dir, files, {
      extraFiles: new Map([[trainerStateFile, `${JSON.stringify(state, null, 2)}\n`]]),
      extraTensors: new Map([[optimizerFile, momentTensors(checkpoint.optimizer)]]),
    }),
    state,
  )
}

const decodeState = Schema.decodeUnknownEffect(TrainerStateSchema)

/** The trainer state in `dir`; None when the folder holds no trainer_state.json (no checkpoint yet). */
export const readTrainerState = (dir: string): Effect.Effect<Option.Option<TrainerState>, TrainerStateError> =>
  Effect.gen(function* () {
    const file = path.join(dir, trainerStateFile)
    if (!fs.existsSync(file)) return Option.none()
    const raw = yield* Effect.try({
      try: () => JSON.parse(fs.readFileSync(file, "utf8")) as unknown,
      catch: (error) =>
        new TrainerStateError({ path: file, reason: `not readable JSON (${String(error)}); delete the checkpoint` }),
    })
    const state = yield* decodeState(raw, { onExcessProperty: "error" }).pipe(
      Effect.mapError(
        (error) =>
          new TrainerStateError({
            path: file,
            reason: `not a trainer state of format ${trainerStateFormat}: ${error.message}`,
          }),
      ),
    )
    return Option.some(state)
  })

export interface ResumeExpectation {
  /** The trainer resuming ("sft", "grpo"). */
  readonly trainer: string
  /** `configHash` of the resuming run's settings. */
  readonly configHash: string
  /** The resuming run's stage (default "sft"): a checkpoint of another stage is refused. */
  readonly stage?: TrainingStage
}

const mismatch = (file: string, what: string, saved: unknown, now: unknown) =>
  new TrainerStateError({
    path: file,
    reason: `the checkpoint belongs to another run (${what}: saved ${JSON.stringify(saved)}, this run ${JSON.stringify(now)}); resume with the same settings or use a new run folder`,
  })

const restoreMoments = (dir: string, optimizer: AdamWState, moments: ReadonlyMap<string, TensorData>) =>
  Effect.gen(function* () {
    const file = path.join(dir, optimizerFile)
    const missing: Array<string> = []
    for (const [kind, slots] of [
      ["m", optimizer.m],
      ["v", optimizer.v],
    ] as const)
      for (const [name, target] of slots) {
        const saved = moments.get(`${kind}.${name}`)
        if (saved === undefined || !(saved.data instanceof Float32Array) || saved.data.length !== target.length)
          missing.push(`${kind}.${name}`)
        else target.set(saved.data)
      }
    if (missing.length > 0)
      return yield* Effect.fail(
        new TrainerStateError({
          path: file,
          reason: `missing or mis-shaped optimizer moments: ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` … (${missing.length})` : ""}`,
        }),
      )
  })

/**
 * Loads the trainer checkpoint in `dir` when one exists (it has trainer_state.json), checking that it belongs to
 * the resuming run (same trainer, same `configHash`, same trained parameters). The parameters are freed again when
 * a later check fails.
 */
export const loadTrainerCheckpoint = (
  dir: string,
  expect: ResumeExpectation,
): Effect.Effect<Option.Option<TrainerCheckpoint>, TrainerStateError | CheckpointLoadError | SafetensorsError> =>
  Effect.gen(function* () {
    const found = yield* readTrainerState(dir)
    if (Option.isNone(found)) return Option.none()
    const state = found.value
    const file = path.join(dir, trainerStateFile)
    if (state.trainer !== expect.trainer)
      return yield* Effect.fail(mismatch(file, "trainer", state.trainer, expect.trainer))
    const stage = expect.stage ?? defaultStage
    if ((state.stage ?? defaultStage) !== stage)
      return yield* Effect.fail(
        new TrainerStateError({
          path: file,
          reason: `the checkpoint is of stage "${state.stage ?? defaultStage}", this run is --stage ${stage}; resume it with --stage ${state.stage ?? defaultStage}, or start the new stage in another folder with --init ${dir}`,
        }),
      )
    if (state.configHash !== expect.configHash)
      return yield* Effect.fail(mismatch(file, "settings hash", state.configHash, expect.configHash))
    const loaded = yield* loadCheckpoint(dir)
    const model: Model = { config: loaded.config, params: loaded.params }
    const restore = Effect.gen(function* () {
      const optimizer = freshOptimizer(model, stage)
      const trainable = [...optimizer.m.keys()].sort()
      if (trainable.join("\n") !== state.trainable.join("\n"))
        return yield* Effect.fail(
          mismatch(file, "trained parameters", `${state.trainable.length} names`, `${trainable.length} names`),
        )
      const moments = yield* Safetensors.read(path.join(dir, optimizerFile))
      yield* restoreMoments(dir, optimizer, moments)
      optimizer.step = state.optimizerStep
      return Option.some<TrainerCheckpoint>({ model, tokenizer: loaded.tokenizer, optimizer, state })
    })
    return yield* restore.pipe(Effect.onError(() => Effect.sync(() => disposeParameters(model.params))))
  })
