/**
 * The demo's first stage: supervised training of a fresh tiny DeepSeek-V3.2 model on the addition task, run by
 * @ds/model's `trainProgram` (`ds train`): cross-entropy on the completion, AdamW at a constant learning rate after
 * a warm-up, the balance loss and aux-loss-free gate-bias updates.
 *
 * It trains in chunks of `chunkSteps` and stops once the greedy held-out accuracy reaches `targetAccuracy` (or at
 * `maxSteps`): GRPO is then shown on a model that is right part of the time, which is where RL has something to
 * learn from (a group whose samples are all right or all wrong has zero advantage). The learning rate is constant
 * after warm-up, so training in chunks follows the same curve as one long run. Each chunk resumes from
 * `<dir>/checkpoint`; a killed demo resumes here too.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { type ConfigError, type InputError, Progress, type ShapeError } from "@ds/core"
import { disposeParameters, loadCheckpoint, type Model, type TextTokenizer, trainProgram } from "@ds/model"
import { Effect, Schema } from "effect"

export interface SftOptions {
  readonly dir: string
  readonly digits: number
  readonly chunkSteps: number
  readonly maxSteps: number
  readonly targetAccuracy: number
  readonly batchSize: number
  readonly learningRate: number
  readonly warmupSteps: number
  readonly seed: number
  /** Greedy held-out accuracy of a model (the caller's evaluation, so SFT and GRPO are measured alike). */
  readonly accuracy: (
    model: Model,
    tokenizer: TextTokenizer,
  ) => Effect.Effect<number, ShapeError | InputError | ConfigError>
}

const StepState = Schema.Struct({ step: Schema.Int })

const checkpointStep = (checkpoint: string): number => {
  const file = path.join(checkpoint, "trainer_state.json")
  if (!fs.existsSync(file)) return 0
  return Schema.decodeUnknownSync(StepState)(JSON.parse(fs.readFileSync(file, "utf8")), { onExcessProperty: "ignore" })
    .step
}

const loadModel = (checkpoint: string) =>
  Effect.map(loadCheckpoint(checkpoint), (loaded) => ({
    model: { config: loaded.config, params: loaded.params } satisfies Model,
    tokenizer: loaded.tokenizer as TextTokenizer,
  }))

/** Trains (or resumes) until the target accuracy; returns the model, its tokenizer, steps and accuracy. */
export const supervisedStage = (options: SftOptions) =>
  Effect.gen(function* () {
    const progress = yield* Progress
    const checkpoint = path.join(options.dir, "checkpoint")
    for (;;) {
      const step = checkpointStep(checkpoint)
      if (step > 0) {
        const loaded = yield* loadModel(checkpoint)
        const accuracy = yield* options.accuracy(loaded.model, loaded.tokenizer)
        yield* Effect.logInfo(`SFT step ${step}: held-out greedy accuracy ${accuracy.toFixed(3)}`)
        if (accuracy >= options.targetAccuracy || step >= options.maxSteps) {
          yield* progress.finish("sft")
          return { ...loaded, steps: step, accuracy }
        }
        disposeParameters(loaded.model.params)
      }
      yield* trainProgram({
        out: options.dir,
        data: "addition",
        digits: options.digits,
        preset: "tiny",
        steps: Math.min(options.maxSteps, step + options.chunkSteps),
        batchSize: options.batchSize,
        learningRate: options.learningRate,
        minLearningRate: options.learningRate,
        warmupSteps: options.warmupSteps,
        seed: options.seed,
        evalEvery: 0,
        evalExamples: 1,
        saveEvery: 0,
        resume: true,
        onEvent: (event) => {
          if (event.type === "step")
            Effect.runSync(
              progress.update({
                task: "sft",
                done: event.step,
                unit: "step",
                info: { loss: Number(event.loss.toFixed(3)) },
              }),
            )
        },
      })
    }
  })
