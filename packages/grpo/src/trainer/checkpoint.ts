/**
 * The trainer's checkpoint: everything a killed run needs to continue the same curve.
 *
 *   <runDir>/checkpoint/config.json, model.safetensors, tokenizer.json     the policy (@ds/model's format)
 *                       optimizer.safetensors                              AdamW moments `m.<param>`, `v.<param>`
 *                       trainer_state.json                                 {step, optimizerStep}
 *
 * Written through @ds/model's `saveCheckpoint` (temporary folder + rename), so a kill leaves either the previous
 * checkpoint or the new one. The reference model is not saved: it is the starting checkpoint, reloaded on resume.
 * Random choices of step s derive from (seed, s), so no generator state needs saving.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { CheckpointError, Safetensors, type TensorData } from "@ds/core"
import {
  type AdamWState,
  type Checkpoint,
  loadCheckpoint,
  type Model,
  saveCheckpoint,
  type TextTokenizer,
} from "@ds/model"
import { Effect, Option, Schema } from "effect"
import { freshOptimizer } from "./optimizer.ts"

export const TrainerStateSchema = Schema.Struct({
  /** Rollout batches completed. */
  step: Schema.Int,
  /** AdamW updates applied. */
  optimizerStep: Schema.Int,
})
export type TrainerState = typeof TrainerStateSchema.Type

const optimizerFile = "optimizer.safetensors"
const stateFile = "trainer_state.json"

export const checkpointDir = (runDir: string): string => path.join(runDir, "checkpoint")

export interface TrainerCheckpoint {
  readonly model: Model
  readonly tokenizer: TextTokenizer | undefined
  readonly optimizer: AdamWState
  readonly state: TrainerState
}

/** Saves the policy, the optimiser moments and the trainer state to `<runDir>/checkpoint`. */
export const saveTrainerCheckpoint = (
  runDir: string,
  model: Model,
  tokenizer: TextTokenizer | undefined,
  optimizer: AdamWState,
  state: TrainerState,
): Effect.Effect<void, CheckpointError> => {
  const moments = new Map<string, TensorData>()
  const shapeOf = (name: string) => optimizer.shapes.get(name) ?? []
  for (const [name, m] of optimizer.m) moments.set(`m.${name}`, { dtype: "F32", shape: shapeOf(name), data: m })
  for (const [name, v] of optimizer.v) moments.set(`v.${name}`, { dtype: "F32", shape: shapeOf(name), data: v })
  const checkpoint: Checkpoint = {
    config: model.config,
    params: model.params,
    ...(tokenizer === undefined ? {} : { tokenizer }),
  }
  return saveCheckpoint(checkpointDir(runDir), checkpoint, {
    extraFiles: new Map([[stateFile, `${JSON.stringify(state)}\n`]]),
    extraTensors: new Map([[optimizerFile, moments]]),
  })
}

const readState = (dir: string) =>
  Effect.try({
    try: () =>
      Schema.decodeUnknownSync(TrainerStateSchema)(JSON.parse(fs.readFileSync(path.join(dir, stateFile), "utf8"))),
    catch: (error) => new CheckpointError({ path: dir, reason: `unreadable ${stateFile}: ${String(error)}` }),
  })

/** Loads `<runDir>/checkpoint` when a complete one exists (it has trainer_state.json); None otherwise. */
export const loadTrainerCheckpoint = (runDir: string) =>
  Effect.gen(function* () {
    const dir = checkpointDir(runDir)
    if (!fs.existsSync(path.join(dir, stateFile))) return Option.none<TrainerCheckpoint>()
    const state = yield* readState(dir)
    const loaded = yield* loadCheckpoint(dir)
    const moments = yield* Safetensors.read(path.join(dir, optimizerFile))
    const model: Model = { config: loaded.config, params: loaded.params }
    const optimizer = freshOptimizer(model)
    optimizer.step = state.optimizerStep
    const slots = [
      ...[...optimizer.m].map(([n, t]) => [`m.${n}`, t] as const),
      ...[...optimizer.v].map(([n, t]) => [`v.${n}`, t] as const),
    ]
    const missing = slots.filter(([name]) => !moments.has(name)).map(([name]) => name)
    if (missing.length > 0)
      return yield* Effect.fail(
        new CheckpointError({ path: dir, reason: `${optimizerFile} lacks optimiser moments`, missing }),
      )
    for (const [name, target] of slots) assignMoment(target, moments.get(name) as TensorData)
    return Option.some<TrainerCheckpoint>({ model, tokenizer: loaded.tokenizer, optimizer, state })
  })

const assignMoment = (target: Float32Array, data: TensorData): void => {
  if (!(data.data instanceof Float32Array) || data.data.length !== target.length)
    throw new CheckpointError({ path: optimizerFile, reason: "an optimiser moment has the wrong size" })
  target.set(data.data)
}
