import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { initBackend, Rng, readMetricsFile } from "@ds/core"
import { it as effectIt } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodeModelConfig, type ModelConfig } from "../src/config.ts"
import { defaultAdamW } from "../src/optimizer.ts"
import { disposeParameters, initParameters } from "../src/params.ts"
import { tinyPreset } from "../src/presets.ts"
import { trainProgram } from "../src/programs/train-program.ts"
import { byteTokenizer } from "../src/tokenizer/tokenizer.ts"
import { toTokenBatch } from "../src/training/batches.ts"
import { languageModelLoss, type TokenBatch } from "../src/training/loss.ts"
import { needleSource, needleTask } from "../src/training/needle-task.ts"
import { stageLoss } from "../src/training/stage-loss.ts"
import { trainStep } from "../src/training/train-step.ts"
import { freshOptimizer, readTrainerState, TrainerStateError } from "../src/training/trainer-state.ts"
import type { Model } from "../src/transformer.ts"

const root = mkdtempSync(join(tmpdir(), "ds-model-stages-"))
const length = 24

/** One attention layer, a dense FFN, top-4 of up to 24 keys: small enough for many steps in a test. */
const overrides: Partial<ModelConfig> = {
  max_seq_len: 32,
  dim: 32,
  inter_dim: 64,
  n_layers: 1,
  n_dense_layers: 1,
  n_heads: 2,
  q_lora_rank: 16,
  kv_lora_rank: 16,
  index_topk: 4,
}

const makeModel = (seed: number, peaked = false): Model => {
  const config = decodeModelConfig({ ...tinyPreset, ...overrides, vocab_size: byteTokenizer().vocabSize })
  const params = initParameters(config, seed)
  // A peaked, content-dependent main attention (larger query/key projections), as a trained model has: the
  // indexer then has something to learn that beats a random top-k.
  if (peaked)
    for (const name of ["layers.0.attn.wq_b.weight", "layers.0.attn.wkv_b.weight"]) {
      const v = params.get(name) as tf.Variable
      tf.tidy(() => v.assign(tf.mul(v, 6)))
    }
  return { config, params }
}

/** Plain language modelling on random bytes: every row is a target row. */
const randomBatch = (step: number, batch = 4): TokenBatch => {
  const r = Rng.make(7).fork(step)
  const sequences = Array.from({ length: batch }, () => Array.from({ length: length + 1 }, () => r.int(97, 123)))
  return toTokenBatch(
    sequences.map((s) => ({ prompt: [], completion: s })),
    length,
  )
}

const snapshot = (model: Model): Map<string, Float32Array> =>
  new Map([...model.params].map(([name, v]) => [name, v.dataSync() as Float32Array]))

const isIndexer = (name: string) => name.includes(".indexer.")

beforeAll(async () => {
  await initBackend("wasm")
})

afterAll(() => rmSync(root, { recursive: true, force: true }))

describe("indexer warm-up (stage A)", () => {
  it("the dense KL falls and recall@k rises on a fixed-seed run; only the indexer moves, bit for bit", () => {
    const model = makeModel(1, true)
    const optimizer = freshOptimizer(model, "indexer-warmup")
    expect([...optimizer.m.keys()].every(isIndexer)).toBe(true)
    expect(optimizer.m.size).toBe(5)
    const before = snapshot(model)
    const tensors = tf.memory().numTensors
    const curve = Array.from({ length: 40 }, (_, step) =>
      trainStep(model, optimizer, [randomBatch(step % 4)], {
        learningRate: 1e-2,
        adamW: defaultAdamW,
        stage: "indexer-warmup",
        biasUpdateSpeed: 1e-3,
      }),
    )
    expect(tf.memory().numTensors).toBe(tensors)
    const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
    const kl = curve.map((r) => r.indexerKl as number)
    const recall = curve.map((r) => r.recall as number)
    expect(curve.every((r) => r.crossEntropy === undefined && r.loss === r.indexerKl)).toBe(true)
    expect(mean(kl.slice(-4))).toBeLessThan(0.7 * mean(kl.slice(0, 4)))
    expect(mean(recall.slice(-4))).toBeGreaterThan(mean(recall.slice(0, 4)) + 0.1)
    const after = snapshot(model)
    for (const [name, values] of before) {
      const same = Buffer.from(values.buffer).equals(Buffer.from((after.get(name) as Float32Array).buffer))
      expect(same, name).toBe(!isIndexer(name))
    }
    disposeParameters(model.params)
  })
})

describe("sparse stage (stage B)", () => {
  it("the indexer KL reaches only the indexer and the LM loss only the main model (detach)", () => {
    const model = makeModel(2, true)
    const variables = [...model.params].filter(([, v]) => v.trainable)
    const nameOf = new Map(variables.map(([name, v]) => [v.name, name]))
    const gradients = (f: () => tf.Scalar) => {
      const { value, grads } = tf.variableGrads(
        f,
        variables.map(([, v]) => v),
      )
      value.dispose()
      return new Map(Object.entries(grads).map(([n, g]) => [nameOf.get(n) as string, g]))
    }
    const batch = randomBatch(0)
    const lm = gradients(() => languageModelLoss(model, batch, { selection: "topk" }).loss)
    const total = gradients(() => stageLoss(model, batch, "sparse").loss)
    const indexerNames = variables.map(([name]) => name).filter(isIndexer)
    expect(indexerNames.length).toBe(5)
    for (const name of indexerNames) {
      // No path from the LM loss into the indexer: tfjs reports no gradient, or an all-zero one.
      const g = lm.get(name)
      if (g !== undefined) expect(tf.max(tf.abs(g)).dataSync()[0], name).toBe(0)
      expect(tf.max(tf.abs(total.get(name) as tf.Tensor)).dataSync()[0], name).toBeGreaterThan(0)
    }
    for (const [name] of variables.filter(([n]) => !isIndexer(n))) {
      // The main model's gradient of LM + KL is the LM's alone: the KL does not reach it.
      const difference = tf.max(tf.abs(tf.sub(total.get(name) as tf.Tensor, lm.get(name) as tf.Tensor)))
      expect(difference.dataSync()[0], name).toBeLessThan(1e-6)
    }
    tf.dispose([...lm.values(), ...total.values()])
    disposeParameters(model.params)
  })

  it("trains every parameter but the gate biases and logs the KL and recall", () => {
    const model = makeModel(3, true)
    const optimizer = freshOptimizer(model, "sparse")
    expect(optimizer.m.size).toBe([...model.params.keys()].filter((n) => !n.endsWith(".gate.bias")).length)
    const result = trainStep(model, optimizer, [randomBatch(0)], {
      learningRate: 1e-3,
      adamW: defaultAdamW,
      stage: "sparse",
    })
    expect(result.loss).toBe(result.crossEntropy)
    expect(result.indexerKl).toBeGreaterThan(0)
    expect(result.recall).toBeGreaterThan(0)
    expect(result.recall).toBeLessThanOrEqual(1 + 1e-6)
    disposeParameters(model.params)
  })
})

describe("the needle task", () => {
  it("puts one uppercase needle in the first half and asks for it", () => {
    const tokenizer = byteTokenizer()
    const source = needleSource(tokenizer, { contextLength: 64, minContextLength: 16 }, Rng.make(0))
    for (const example of [...source.validation(8), ...source.batch(3, 8)]) {
      const text = tokenizer.decode(example.prompt)
      const needles = [...text].filter((c) => c >= "A" && c <= "Z")
      expect(needles.length).toBe(1)
      expect(tokenizer.decode(example.completion)).toBe(needles[0])
      expect(text.endsWith("?")).toBe(true)
    }
    expect(source.validation(4).every((e) => e.prompt.length === 64)).toBe(true)
    expect(new Set(source.batch(3, 8).map((e) => e.prompt.length)).size).toBe(1)
    expect(source.batch(3, 8)).toEqual(source.batch(3, 8))
  })
})

describe("ds train --stage", () => {
  const options = (out: string, stage: "indexer-warmup" | "sparse", steps: number) => ({
    out,
    data: needleTask({ contextLength: length }),
    preset: "tiny" as const,
    modelOverrides: overrides,
    stage,
    steps,
    batchSize: 4,
    learningRate: 1e-2,
    evalEvery: 0,
    evalExamples: 4,
    saveEvery: 1,
    resume: true,
  })

  effectIt.effect("a warm-up run resumes under its stage, records it, and refuses another stage", () =>
    Effect.gen(function* () {
      const out = join(root, "warmup")
      yield* trainProgram(options(out, "indexer-warmup", 2))
      const resumed = yield* trainProgram(options(out, "indexer-warmup", 3))
      expect(resumed.steps).toBe(3)
      const state = yield* readTrainerState(join(out, "checkpoint"))
      expect(state._tag === "Some" && state.value.stage).toBe("indexer-warmup")
      expect(state._tag === "Some" && state.value.trainable.every(isIndexer)).toBe(true)
      const events = readMetricsFile(join(out, "metrics.jsonl")).events
      const steps = events.filter((e) => "indexer_kl" in e)
      expect(steps.map((e) => e.step)).toEqual([1, 2, 3])
      expect(steps.every((e) => "recall" in e && !("loss" in e))).toBe(true)
      expect(events.some((e) => "heldout_recall" in e)).toBe(true)
      expect(readFileSync(join(out, "recall.svg"), "utf8")).toContain("<svg")
      const refused = yield* Effect.flip(trainProgram(options(out, "sparse", 4)))
      expect(refused).toBeInstanceOf(TrainerStateError)
      expect(refused.message).toContain("--stage indexer-warmup")
    }),
  )
})
