/**
 * `ds grpo --config FILE`: GRPO from a starting checkpoint on a task, as the run file describes (run-file.ts).
 * Writes `<runDir>/config.json` (the resolved run file), `metrics.jsonl`, `reward.svg`, `kl.svg`, `accuracy.svg`,
 * `rollouts/step-*.jsonl` and `checkpoint/`; rerunning the same command after a kill resumes from the checkpoint.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Backend, ConfigError, InputError, writeTextAtomicSync } from "@ds/core"
import { disposeParameters, loadCheckpoint } from "@ds/model"
import { Effect } from "effect"
import { RunFileError } from "../errors.ts"
import { additionTask } from "../tasks/addition.ts"
import { jsonlTask } from "../tasks/jsonl-task.ts"
import type { Evaluation } from "../trainer/evaluate.ts"
import { runGrpo } from "../trainer/trainer.ts"
import { decodeGrpoRunFile, type GrpoRunFile } from "./run-file.ts"

const readRunFile = (file: string) =>
  Effect.try({
    try: () => JSON.parse(fs.readFileSync(file, "utf8")) as unknown,
    catch: (error) => new InputError({ source: file, reason: `cannot read JSON: ${String(error)}` }),
  }).pipe(
    Effect.flatMap((raw) =>
      Effect.try({
        try: () => decodeGrpoRunFile(raw),
        catch: (error) =>
          error instanceof ConfigError ? error : new ConfigError({ field: "(root)", reason: String(error) }),
      }),
    ),
  )

export interface GrpoProgramResult {
  readonly runDir: string
  readonly steps: number
  readonly finalEvaluation: Evaluation | undefined
}

/** Runs GRPO as `configPath` describes; needs a started `Backend` and a `Progress` renderer. */
export const grpoProgram = (configPath: string) =>
  Effect.gen(function* () {
    yield* Backend
    const file: GrpoRunFile = yield* readRunFile(configPath)
    const checkpoint = yield* loadCheckpoint(file.checkpoint)
    const initial = { config: checkpoint.config, params: checkpoint.params }
    const run = Effect.gen(function* () {
      const tokenizer = checkpoint.tokenizer
      if (tokenizer === undefined)
        return yield* Effect.fail(
          new InputError({ source: file.checkpoint, reason: "the checkpoint has no tokenizer.json" }),
        )
      const { task, weights } =
        file.task.type === "addition"
          ? (() => {
              const t = additionTask(tokenizer, {
                digits: file.task.digits,
                evalPrompts: file.task.evalPrompts,
                seed: file.grpo.seed,
              })
              return { task: t, weights: t.rewardWeights }
            })()
          : yield* jsonlTask(tokenizer, file.task)
      const config = file.grpo.rewardWeights === undefined ? { ...file.grpo, rewardWeights: weights } : file.grpo
      const resolved = path.join(file.runDir, "config.json")
      yield* Effect.try({
        try: () => writeTextAtomicSync(resolved, `${JSON.stringify({ ...file, grpo: config }, null, 2)}\n`),
        catch: (error) => new RunFileError({ path: resolved, reason: String(error) }),
      })
      const result = yield* runGrpo({
        runDir: file.runDir,
        config,
        initial,
        tokenizer,
        task,
        evalSamples: file.evalSamples,
        ...(file.evalSteps === undefined ? {} : { evalSteps: file.evalSteps }),
      })
      disposeParameters(result.model.params)
      return result
    })
    const result = yield* run.pipe(Effect.ensuring(Effect.sync(() => disposeParameters(initial.params))))
    return {
      runDir: file.runDir,
      steps: result.state.step,
      finalEvaluation: result.finalEvaluation,
    } satisfies GrpoProgramResult
  })
