import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Backend, initBackend, metricsFilePath, Progress, readMetricsFile } from "@ds/core"
import {
  byteTokenizer,
  decodeModelConfig,
  disposeParameters,
  initParameters,
  saveCheckpoint,
  tinyPreset,
} from "@ds/model"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { beforeAll } from "vitest"
import { grpoProgram } from "../src/program/grpo-program.ts"

const layers = Layer.mergeAll(Backend.layerChoice("wasm"), Progress.layerSilent)
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "grpo-program-"))
const tokenizer = byteTokenizer()
let checkpoint: string

beforeAll(async () => {
  await initBackend("wasm")
  checkpoint = path.join(tempDir(), "start")
  const config = decodeModelConfig({ ...tinyPreset, vocab_size: tokenizer.vocabSize, max_seq_len: 32 })
  const params = initParameters(config, 1)
  await Effect.runPromise(saveCheckpoint(checkpoint, { config, params, tokenizer }))
  disposeParameters(params)
})

const writeRunFile = (dir: string, content: unknown) => {
  const file = path.join(dir, "grpo.json")
  fs.writeFileSync(file, JSON.stringify(content))
  return file
}

describe("ds grpo --config FILE", () => {
  it.effect(
    "trains from a checkpoint on the addition task, writes the run folder, and a rerun resumes without retraining",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const runDir = path.join(dir, "run")
        const file = writeRunFile(dir, {
          checkpoint,
          runDir,
          task: { type: "addition", digits: 2, evalPrompts: 4 },
          grpo: {
            maxSteps: 2,
            promptsPerStep: 2,
            numGenerations: 4,
            maxCompletionLength: 4,
            beta: 0.02,
            learningRate: 1e-3,
          },
          evalSteps: 2,
          evalSamples: 1,
        })
        const result = yield* grpoProgram(file)
        expect(result.steps).toBe(2)
        expect(result.finalEvaluation?.accuracy).toBeGreaterThanOrEqual(0)
        for (const name of [
          "config.json",
          "metrics.jsonl",
          "reward.svg",
          "kl.svg",
          "checkpoint/trainer_state.json",
          "rollouts/step-000001.jsonl",
        ])
          expect(fs.existsSync(path.join(runDir, name))).toBe(true)
        const resolved = JSON.parse(fs.readFileSync(path.join(runDir, "config.json"), "utf8"))
        expect(resolved.grpo.rewardWeights).toEqual([1, 0.1]) // the task's weights when the file gives none
        const events = readMetricsFile(metricsFilePath(runDir)).events
        expect(events.map((e) => e.step)).toEqual([0, 1, 2]) // held-out evaluation at 0, then one event per step
        expect(events[0]).toHaveProperty("eval/accuracy")
        expect(events[2]).toHaveProperty("eval/reward")
        yield* grpoProgram(file)
        expect(readMetricsFile(metricsFilePath(runDir)).events).toEqual(events)
      }).pipe(Effect.provide(layers)),
  )

  it.effect("trains on prompts from a JSONL file with rewards named in the run file", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const train = path.join(dir, "train.jsonl")
      fs.writeFileSync(
        train,
        [
          ["2+3=", 5],
          ["4+4=", 8],
          ["1+6=", 7],
        ]
          .map(([q, answer]) => JSON.stringify({ messages: [{ role: "user", content: q }], metadata: { answer } }))
          .join("\n"),
      )
      const runDir = path.join(dir, "run")
      const file = writeRunFile(dir, {
        checkpoint,
        runDir,
        task: {
          type: "jsonl",
          train,
          eval: train,
          rewards: [{ type: "numeric_answer" }, { type: "length_penalty", maxLength: 3, weight: 0.5 }],
        },
        grpo: { maxSteps: 1, promptsPerStep: 2, numGenerations: 2, maxCompletionLength: 3 },
        evalSteps: 1,
        evalSamples: 1,
      })
      const result = yield* grpoProgram(file)
      expect(result.steps).toBe(1)
      const event = readMetricsFile(metricsFilePath(runDir)).events.find((e) => e.step === 1)
      expect(event).toHaveProperty("rewards/numeric_answer/mean")
      expect(event).toHaveProperty("rewards/length_penalty/mean")
    }).pipe(Effect.provide(layers)),
  )

  it.effect("names the field of a bad run file", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = writeRunFile(dir, { checkpoint, grpo: { numGenerations: 0 } })
      const error = yield* Effect.flip(grpoProgram(file))
      expect(error._tag).toBe("ConfigError")
      expect(error.message).toMatch(/grpo.numGenerations/)
    }).pipe(Effect.provide(layers)),
  )
})
