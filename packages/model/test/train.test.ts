import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { initBackend, readMetricsFile } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { Deferred, Effect, Fiber } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { loadCheckpoint } from "../src/checkpoint.ts"
import { decodeModelConfig } from "../src/config.ts"
import { defaultAdamW, initAdamW } from "../src/optimizer.ts"
import { disposeParameters, initParameters } from "../src/params.ts"
import { tinyPreset } from "../src/presets.ts"
import { type TrainOptions, trainProgram } from "../src/programs/train-program.ts"
import { toTokenBatch } from "../src/training/batches.ts"
import { trainStep } from "../src/training/train-step.ts"

const root = mkdtempSync(join(tmpdir(), "ds-model-train-"))

beforeAll(async () => {
  await initBackend("wasm")
})

afterAll(() => rmSync(root, { recursive: true, force: true }))

describe("training", () => {
  it("the tiny preset learns 2-digit addition: >= 60% exact answers on held-out pairs after 250 steps (chance 0.1%)", async () => {
    const out = join(root, "addition")
    const summary = await Effect.runPromise(
      trainProgram({
        out,
        data: "addition",
        digits: 2,
        steps: 250,
        batchSize: 32,
        learningRate: 1e-2,
        evalEvery: 0,
        saveEvery: 0,
        evalExamples: 200,
        seed: 5,
      }),
    )
    expect(summary.evaluation?.metric).toBe("heldout_accuracy")
    expect(summary.evaluation?.value).toBeGreaterThanOrEqual(0.6)
    const { events } = readMetricsFile(join(out, "metrics.jsonl"))
    expect(events.filter((e) => typeof e.loss === "number").length).toBe(250)
    expect(readFileSync(join(out, "loss.svg"), "utf8")).toContain("<svg")
    const checkpoint = await Effect.runPromise(loadCheckpoint(summary.checkpoint))
    expect(checkpoint.tokenizer?.encode("21+43=")).toEqual([50, 49, 43, 52, 51, 61])
    disposeParameters(checkpoint.params)
  }, 180_000)

  it("a run killed after a checkpoint resumes and continues the same loss curve", async () => {
    const base: TrainOptions = {
      out: "",
      data: "addition",
      digits: 2,
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
            onEvent: (e) => {
              if (e.type === "checkpoint" && e.step === 3) Deferred.doneUnsafe(saved, Effect.void)
            },
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
    const config = decodeModelConfig({
      ...tinyPreset,
      vocab_size: 263,
      dim: 32,
      inter_dim: 32,
      moe_inter_dim: 16,
      n_heads: 2,
    })
    const model = { config, params: initParameters(config, 1) }
    const optimizer = initAdamW(
      new Map([...model.params].filter(([name, v]) => v.trainable && !name.includes(".indexer."))),
    )
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
