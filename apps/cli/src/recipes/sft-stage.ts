/**
 * The demo's first stage: supervised training of a fresh tiny DeepSeek-V3.2 model on a task's SFT data, run by
 * @ds/model's `trainProgram` (`ds train`): cross-entropy on the completion, AdamW at a constant learning rate after
 * a warm-up, the balance loss and aux-loss-free gate-bias updates (docs/model.md §8).
 *
 * It trains in chunks of `chunkSteps` and stops once the greedy accuracy on the task's VALIDATION prompts reaches
 * `targetAccuracy` (or at `maxSteps`): GRPO is then shown on a model that is right part of the time, which is where
 * RL has something to learn from (a group whose samples are all right or all wrong has zero advantage). The test
 * prompts that give the demo's before/after accuracies never take part in this choice. The learning rate is
 * constant after warm-up, so training in chunks follows the same curve as one long run. Each chunk resumes from
 * `<dir>/checkpoint` (the trainer checkpoint); a killed demo resumes here too.
 */
import * as path from "node:path"
import { type ConfigError, type InputError, Progress, type ShapeError } from "@ds/core"
import {
  disposeParameters,
  loadCheckpoint,
  type Model,
  type ModelConfig,
  readTrainerState,
  type SupervisedTask,
  type TextTokenizer,
  trainProgram,
} from "@ds/model"
import { Effect, Option } from "effect"

export interface SftStageOptions {
  readonly dir: string
  /** A task's examples, or a JSONL file (@ds/model `trainProgram`'s formats). */
  readonly data: SupervisedTask | string
  readonly chunkSteps: number
  readonly maxSteps: number
  readonly targetAccuracy: number
  readonly batchSize: number
  readonly learningRate: number
  readonly warmupSteps: number
  readonly seed: number
  /** Overrides of the tiny preset (e.g. a longer max_seq_len for multi-turn transcripts). Default none. */
  readonly modelOverrides?: Partial<ModelConfig>
  /** Train a byte-level BPE of this size on JSONL data for the fresh model (`trainProgram`). Default: plain bytes. */
  readonly tokenizerVocabSize?: number
  /** Greedy accuracy on the validation prompts (the caller's evaluation, so SFT and GRPO are measured alike). */
  readonly validationAccuracy: (
    model: Model,
    tokenizer: TextTokenizer,
  ) => Effect.Effect<number, ShapeError | InputError | ConfigError>
}

const loadModel = (checkpoint: string) =>
  Effect.map(loadCheckpoint(checkpoint), (loaded) => ({
    model: { config: loaded.config, params: loaded.params } satisfies Model,
    tokenizer: loaded.tokenizer as TextTokenizer,
  }))

/** Trains (or resumes) until the target validation accuracy; returns the model, its tokenizer and the steps. */
export const sftStage = (options: SftStageOptions) =>
  Effect.gen(function* () {
    const progress = yield* Progress
    const checkpoint = path.join(options.dir, "checkpoint")
    for (;;) {
      const state = yield* readTrainerState(checkpoint)
      const step = Option.match(state, { onNone: () => 0, onSome: (s) => s.step })
      if (step > 0) {
        const loaded = yield* loadModel(checkpoint)
        const accuracy = yield* options
          .validationAccuracy(loaded.model, loaded.tokenizer)
          .pipe(Effect.onError(() => Effect.sync(() => disposeParameters(loaded.model.params))))
        yield* Effect.logInfo(`SFT step ${step}: validation greedy accuracy ${accuracy.toFixed(3)}`)
        if (accuracy >= options.targetAccuracy || step >= options.maxSteps) {
          yield* progress.finish("sft")
          return { ...loaded, steps: step, validationAccuracy: accuracy }
        }
        disposeParameters(loaded.model.params)
      }
      yield* trainProgram({
        out: options.dir,
        data: options.data,
        preset: "tiny",
        ...(options.modelOverrides === undefined ? {} : { modelOverrides: options.modelOverrides }),
        ...(options.tokenizerVocabSize === undefined ? {} : { tokenizerVocabSize: options.tokenizerVocabSize }),
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
        onEvent: (event) =>
          event.type === "step"
            ? progress.update({
                task: "sft",
                done: event.step,
                unit: "step",
                info: { loss: Number(event.loss.toFixed(3)) },
              })
            : Effect.void,
      })
    }
  })
