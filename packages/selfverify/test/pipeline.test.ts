/**
 * The training driver (docs/selfverify.md §10): a bad config names its field; done stages are skipped; a stage cut
 * after a checkpoint continues from it; a short fixed-seed run makes the verifier's held-out accuracy rise.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Backend, ConfigError, Progress } from "@ds/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import {
  decodePipelineConfig,
  doneFile,
  measureCheckpoint,
  type PipelineConfigInput,
  trainingPipeline,
} from "../src/index.ts"

const layers = Layer.mergeAll(Backend.layerChoice("wasm"), Progress.layerSilent)
const scratch = () => fs.mkdtempSync(path.join(os.tmpdir(), "selfverify-pipeline-"))

/** Cold start only (every later stage off), sized to take seconds. */
const coldOnly = (out: string, steps: number): PipelineConfigInput => ({
  out,
  coldStart: { perRole: 20, steps, batchSize: 2, saveEvery: 2 },
  verifier: { steps: 0 },
  meta: { steps: 0 },
  generator: { steps: 0 },
  rft: { steps: 0 },
  eval: { prompts: 2 },
  autolabel: { proofs: 0 },
})

const stepsIn = (file: string) =>
  fs
    .readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { step: number; time: number; loss?: number })
    .filter((e) => e.loss !== undefined)

describe("training config", () => {
  it.effect("a bad field fails with ConfigError naming it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decodePipelineConfig({ verifier: { steps: -1 } }))
      assert.instanceOf(error, ConfigError)
      assert.strictEqual(error.field, "verifier.steps")
      const unknown = yield* Effect.flip(decodePipelineConfig({ generator: { judje: "oracle" } }))
      assert.strictEqual(unknown.field, "generator.judje")
    }),
  )

  it.effect("defaults fill every field", () =>
    Effect.gen(function* () {
      const config = yield* decodePipelineConfig({})
      assert.strictEqual(config.generator.alpha, 0.76)
      assert.strictEqual(config.generator.judge, "model")
      assert.strictEqual(config.problems.maxOps, 1)
    }),
  )
})

describe("training driver", () => {
  it.live(
    "a done stage is skipped; a stage cut after its checkpoint continues from it",
    () =>
      Effect.gen(function* () {
        const out = scratch()
        const first = yield* trainingPipeline(yield* decodePipelineConfig(coldOnly(out, 2)))
        const metrics = path.join(out, "cold-start", "metrics.jsonl")
        const before = stepsIn(metrics)
        assert.deepStrictEqual(
          before.map((e) => e.step),
          [1, 2],
        )
        // Done: the rerun returns the stored record and trains nothing (even with a larger budget).
        const again = yield* trainingPipeline(yield* decodePipelineConfig(coldOnly(out, 4)))
        assert.deepStrictEqual(again.stages, first.stages)
        assert.deepStrictEqual(stepsIn(metrics), before)
        // Cut before its done marker: the stage runs again from its step-2 checkpoint, keeping steps 1-2 as logged.
        fs.rmSync(doneFile(path.join(out, "cold-start")))
        const resumed = yield* trainingPipeline(yield* decodePipelineConfig(coldOnly(out, 4)))
        const after = stepsIn(metrics)
        assert.deepStrictEqual(
          after.map((e) => e.step),
          [1, 2, 3, 4],
        )
        assert.deepStrictEqual(after.slice(0, 2), before)
        assert.strictEqual(resumed.stages[0]?.steps, 4)
        assert.isTrue(fs.existsSync(doneFile(path.join(out, "cold-start"))))
      }).pipe(Effect.provide(layers)),
    240_000,
  )

  it.live(
    "a short fixed-seed run raises the verifier's held-out accuracy",
    () =>
      Effect.gen(function* () {
        const out = scratch()
        const config = yield* decodePipelineConfig({
          ...coldOnly(out, 40),
          coldStart: { perRole: 100, steps: 40, batchSize: 8, saveEvery: 40 },
          eval: { prompts: 16 },
        })
        const report = yield* trainingPipeline(config)
        const fresh = yield* measureCheckpoint(path.join(out, "cold-start", "init"), config)
        const trained = report.stages[0]!.measures
        assert.isAbove(trained.verifier.accuracy, fresh.verifier.accuracy)
        assert.isBelow(trained.verifier.mean_abs_error, fresh.verifier.mean_abs_error)
      }).pipe(Effect.provide(layers)),
    600_000,
  )
})
