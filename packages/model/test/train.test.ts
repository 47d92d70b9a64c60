import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { initBackend, type Rng, readMetricsFile } from "@ds/core"
import { it as effectIt } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Deferred, Effect, Fiber, Option } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { loadCheckpoint } from "../src/checkpoint.ts"
import { decodeModelConfig } from "../src/config.ts"
import { defaultAdamW } from "../src/optimizer.ts"
import { disposeParameters, initParameters } from "../src/params.ts"
import { tinyPreset } from "../src/presets.ts"
import { type SupervisedTask, type TrainOptions, trainProgram } from "../src/programs/train-program.ts"
import { specialTokens } from "../src/tokenizer/special-tokens.ts"
import { toTokenBatch } from "../src/training/batches.ts"
import { trainStep } from "../src/training/train-step.ts"
import {
  configHash,
  freshOptimizer,
  loadTrainerCheckpoint,
  readTrainerState,
  saveTrainerCheckpoint,
  trainableParameters,
} from "../src/training/trainer-state.ts"

const root = mkdtempSync(join(tmpdir(), "ds-model-train-"))

/** A small task of the test's own (tasks live with their callers): copy three digits after "=". */
const copyTask: SupervisedTask = {
  name: "copy-3",
  sequenceLength: 1 + 4 + 3 + 1,
  evaluation: "exact_match",
  source: (tokenizer, rng) => {
    const example = (r: Rng) => {
      const digits = Array.from({ length: 3 }, () => String(r.int(0, 10))).join("")
      return {
        prompt: tokenizer.encode(`${specialTokens.bos}${digits}=`),
        completion: tokenizer.encode(`${digits}${specialTokens.eos}`),
      }
    }
    return {
      batch: (step, count) => {
        const r = rng.fork("data").fork(step)
        return Array.from({ length: count }, () => example(r))
      },
      validation: (count) => {
        const r = rng.fork("validation")
        return Array.from({ length: count }, () => example(r))
      },
    }
  },
}

beforeAll(async () => {
  await initBackend("wasm")
})

afterAll(() => rmSync(root, { recursive: true, force: true }))

/** The tiny preset narrowed further (the `modelOverrides` the training runs below use), for the direct trainer checks. */
const smallTrainConfig = decodeModelConfig({
  ...tinyPreset,
  vocab_size: 263,
  dim: 32,
  inter_dim: 32,
  moe_inter_dim: 16,
  n_heads: 2,
})

describe("training", () => {
  it("a run killed after a checkpoint resumes and continues the same loss curve", async () => {
    const base: TrainOptions = {
      out: "",
      data: copyTask,
      steps: 6,
      batchSize: 8,
      saveEvery: 3,
      evalEvery: 0,
      evalExamples: 4,
      seed: 3,
      modelOverrides: { dim: 32, inter_dim: 32, moe_inter_dim: 16, n_heads: 2 },
    }
    const straight = join(root, "straight")
    await Effect.runPromise(trainProgram({ ...base, out: straight }))
    const killed = join(root, "killed")
    await Effect.runPromise(
      Effect.gen(function* () {
        const saved = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(
          trainProgram({
            ...base,
            out: killed,
            onEvent: (e) =>
              e.type === "checkpoint" && e.step === 3 ? Effect.asVoid(Deferred.succeed(saved, undefined)) : Effect.void,
          }),
        )
        yield* Deferred.await(saved)
        yield* Fiber.interrupt(fiber)
      }),
    )
    const before = readMetricsFile(join(killed, "metrics.jsonl")).events.length
    expect(before).toBeLessThan(6)
    await Effect.runPromise(trainProgram({ ...base, out: killed, resume: true }))
    const losses = (dir: string) =>
      readMetricsFile(join(dir, "metrics.jsonl"))
        .events.filter((e) => typeof e.loss === "number")
        .map((e) => [e.step, e.loss])
    expect(losses(killed)).toEqual(losses(straight))
    expect(losses(straight).length).toBe(6)
    expect(existsSync(join(killed, "checkpoint", "optimizer.safetensors"))).toBe(true)
  }, 60_000)

  it("trains on a chat JSONL with a freshly trained BPE: the loss falls and the checkpoint carries the tokenizer", async () => {
    const data = join(root, "chat.jsonl")
    const records = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({
        messages: [
          { role: "user", content: `What is ${i} plus one?` },
          { role: "assistant", content: `${i} plus one is ${i + 1}.` },
        ],
      }),
    )
    writeFileSync(data, `${records.join("\n")}\n`)
    const out = join(root, "chat")
    const summary = await Effect.runPromise(
      trainProgram({
        out,
        data,
        steps: 20,
        batchSize: 8,
        tokenizerVocabSize: 300,
        learningRate: 1e-2,
        evalEvery: 20,
        saveEvery: 0,
        seed: 2,
        modelOverrides: { dim: 32, inter_dim: 32, moe_inter_dim: 16, n_heads: 2, max_seq_len: 64 },
      }),
    )
    const losses = readMetricsFile(join(out, "metrics.jsonl"))
      .events.filter((e) => typeof e.loss === "number")
      .map((e) => e.loss as number)
    expect(losses[losses.length - 1]).toBeLessThan((losses[0] as number) * 0.7)
    expect(summary.evaluation?.metric).toBe("heldout_loss")
    const checkpoint = await Effect.runPromise(loadCheckpoint(summary.checkpoint))
    expect(checkpoint.tokenizer?.vocabSize).toBeGreaterThan(263)
    expect(checkpoint.config.vocab_size).toBe(checkpoint.tokenizer?.vocabSize)
    disposeParameters(checkpoint.params)
  }, 60_000)

  it("repeated training steps leave the number of live tensors unchanged", () => {
    const config = smallTrainConfig
    const model = { config, params: initParameters(config, 1) }
    const optimizer = freshOptimizer(model)
    const batch = toTokenBatch(
      [
        { prompt: [1, 2, 3], completion: [4, 5, 6] },
        { prompt: [7], completion: [8, 9] },
      ],
      6,
    )
    const step = () =>
      trainStep(model, optimizer, [batch, batch], {
        learningRate: 1e-3,
        adamW: defaultAdamW,
        biasUpdateSpeed: 1e-3,
        balanceAlpha: 1e-4,
      })
    step()
    const before = tf.memory().numTensors
    step()
    step()
    expect(tf.memory().numTensors).toBe(before)
    disposeParameters(model.params)
  })
})

describe("the trainer checkpoint (one format for SFT and GRPO)", () => {
  const config = smallTrainConfig
  const settings = { lr: 1, data: "copy-3" }
  const save = (dir: string) =>
    Effect.gen(function* () {
      const model = { config, params: initParameters(config, 4) }
      const optimizer = freshOptimizer(model)
      optimizer.step = 7
      for (const [name, m] of optimizer.m) m.fill(name.length)
      yield* saveTrainerCheckpoint(
        dir,
        { model, tokenizer: undefined, optimizer },
        { trainer: "sft", step: 5, seed: 9, configHash: configHash(settings) },
      )
      disposeParameters(model.params)
    })

  effectIt.effect("round-trips step, seed, optimizer step and moments; trains exactly trainableParameters", () =>
    Effect.gen(function* () {
      const dir = join(root, "state-roundtrip")
      yield* save(dir)
      const loaded = yield* loadTrainerCheckpoint(dir, {
        trainer: "sft",
        configHash: configHash({ data: "copy-3", lr: 1 }),
      })
      expect(Option.isSome(loaded)).toBe(true)
      if (Option.isNone(loaded)) return
      const { state, optimizer, model } = loaded.value
      expect([state.format, state.trainer, state.step, state.optimizerStep, state.seed]).toEqual([1, "sft", 5, 7, 9])
      expect(optimizer.step).toBe(7)
      const names = [...trainableParameters(model.params).keys()].sort()
      expect(state.trainable).toEqual(names)
      expect(names.some((n) => n.endsWith(".gate.bias") || n.includes(".indexer."))).toBe(false)
      expect(names.length).toBeGreaterThan(0)
      for (const [name, m] of optimizer.m) expect(m[0]).toBe(name.length)
      disposeParameters(model.params)
    }),
  )

  effectIt.effect("no trainer_state.json: None (a fresh run)", () =>
    Effect.gen(function* () {
      const found = yield* loadTrainerCheckpoint(join(root, "no-such-run"), { trainer: "sft", configHash: "x" })
      expect(Option.isNone(found)).toBe(true)
    }),
  )

  effectIt.effect("a malformed trainer_state.json fails with TrainerStateError, not a defect", () =>
    Effect.gen(function* () {
      const dir = join(root, "state-malformed")
      yield* save(dir)
      writeFileSync(join(dir, "trainer_state.json"), '{"step": "three"}')
      const error = yield* Effect.flip(loadTrainerCheckpoint(dir, { trainer: "sft", configHash: configHash(settings) }))
      expect(error._tag).toBe("TrainerStateError")
      writeFileSync(join(dir, "trainer_state.json"), "{not json")
      const torn = yield* Effect.flip(readTrainerState(dir))
      expect(torn._tag).toBe("TrainerStateError")
    }),
  )

  effectIt.effect("another run's state (other trainer, other settings) fails with TrainerStateError naming it", () =>
    Effect.gen(function* () {
      const dir = join(root, "state-mismatch")
      yield* save(dir)
      const before = tf.memory().numTensors
      const grpo = yield* Effect.flip(loadTrainerCheckpoint(dir, { trainer: "grpo", configHash: configHash(settings) }))
      expect(grpo.message).toMatch(/trainer/)
      const other = yield* Effect.flip(
        loadTrainerCheckpoint(dir, { trainer: "sft", configHash: configHash({ ...settings, lr: 2 }) }),
      )
      expect(other._tag).toBe("TrainerStateError")
      expect(other.message).toMatch(/settings hash/)
      expect(tf.memory().numTensors).toBe(before)
    }),
  )

  effectIt.effect("missing optimizer moments fail with TrainerStateError and free the loaded parameters", () =>
    Effect.gen(function* () {
      const dir = join(root, "state-moments")
      yield* save(dir)
      const state = JSON.parse(readFileSync(join(dir, "trainer_state.json"), "utf8"))
      writeFileSync(join(dir, "optimizer.safetensors"), Buffer.alloc(0))
      const before = tf.memory().numTensors
      const error = yield* Effect.flip(loadTrainerCheckpoint(dir, { trainer: "sft", configHash: state.configHash }))
      expect(["TrainerStateError", "SafetensorsError"]).toContain(error._tag)
      expect(tf.memory().numTensors).toBe(before)
    }),
  )

  it("ds train --resume under other settings fails with TrainerStateError instead of continuing another curve", async () => {
    const base: TrainOptions = {
      out: join(root, "resume-mismatch"),
      data: copyTask,
      steps: 2,
      batchSize: 4,
      saveEvery: 2,
      evalEvery: 0,
      evalExamples: 2,
      modelOverrides: { dim: 32, inter_dim: 32, moe_inter_dim: 16, n_heads: 2 },
    }
    await Effect.runPromise(trainProgram(base))
    const error = await Effect.runPromise(Effect.flip(trainProgram({ ...base, steps: 3, batchSize: 8, resume: true })))
    expect(error._tag).toBe("TrainerStateError")
    const state = JSON.parse(readFileSync(join(base.out, "checkpoint", "trainer_state.json"), "utf8"))
    expect(state.trainer).toBe("sft")
    expect(state.step).toBe(2)
  }, 60_000)
})
