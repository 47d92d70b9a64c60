/**
 * `pnpm --filter @ds/model bench`: training and decode throughput of the "small" preset (about 3 M parameters:
 * dim 256, 4 layers, 8 heads, 8 routed experts with 2 active + 1 shared, byte vocabulary of 263) on the default
 * backend (wasm + this project's kernels) and on stock tfjs kernels (wasm without them; and the pure-JS cpu
 * backend for decode only, since its training step takes minutes).
 *
 *   training tokens/s = B·T / (forward + backward + AdamW step),  B = 8 sequences of T = 128 tokens
 *   decode tokens/s   = B / (one cached decode step),              B = 4 sequences after a 64-token prefill
 *
 * Writes bench-results/model.json.
 */
import { describeBackend, initBackend, Rng } from "@ds/core"
import { printTable, time, writeBenchResult } from "@ds/tooling/bench"
import * as tf from "@tensorflow/tfjs"
import { decodeModelConfig } from "../src/config.ts"
import { defaultAdamW, initAdamW } from "../src/optimizer.ts"
import { countParameters, disposeParameters, initParameters } from "../src/params.ts"
import { smallPreset } from "../src/presets.ts"
import { trainStep } from "../src/training/train-step.ts"
import { createModelCache, disposeForward, disposeModelCache, forward, type Model } from "../src/transformer.ts"

const config = decodeModelConfig({ ...smallPreset, vocab_size: 263 })
const trainBatch = 8
const trainLength = 128
const decodeBatch = 4
const prefillLength = 64

const randomTokens = (rng: Rng, n: number): Int32Array =>
  Int32Array.from({ length: n }, () => rng.int(0, config.vocab_size))

const measureTraining = async (model: Model): Promise<number> => {
  const rng = Rng.make(1)
  const inputs = randomTokens(rng, trainBatch * trainLength)
  const targets = randomTokens(rng, trainBatch * trainLength)
  const optimizer = initAdamW(new Map([...model.params].filter(([n, v]) => v.trainable && !n.includes(".indexer."))))
  const batch = { batch: trainBatch, length: trainLength, inputs, targets }
  const timing = await time(
    () => trainStep(model, optimizer, [batch], { learningRate: 1e-4, adamW: defaultAdamW, biasUpdateSpeed: 1e-3 }),
    {
      warmup: 1,
      repeats: 5,
      budgetMs: 60_000,
    },
  )
  return (trainBatch * trainLength) / (timing.medianMs / 1000)
}

const measureDecode = async (model: Model): Promise<number> => {
  const rng = Rng.make(2)
  const steps = 16
  const cache = createModelCache(config, decodeBatch, prefillLength + 64)
  const prompt = tf.tensor2d(randomTokens(rng, decodeBatch * prefillLength), [decodeBatch, prefillLength], "int32")
  disposeForward(forward(model, prompt, { cache }))
  prompt.dispose()
  let position = prefillLength
  const timing = await time(
    () => {
      const next = tf.tensor2d(randomTokens(rng, decodeBatch), [decodeBatch, 1], "int32")
      disposeForward(forward(model, next, { cache, startPos: position }))
      next.dispose()
      // Roll back so every timed step decodes at the same context length.
      position = prefillLength
    },
    { warmup: 2, repeats: steps, budgetMs: 30_000 },
  )
  disposeModelCache(cache)
  return decodeBatch / (timing.medianMs / 1000)
}

const firstLine = (error: unknown): string =>
  `fails: ${String(error instanceof Error ? error.message : error).split("\n")[0] ?? ""}`

const rows: Array<Record<string, string | number>> = []
const results: Record<string, unknown> = {
  config: { preset: "small", parameters: countParameters(config), trainBatch, trainLength, decodeBatch, prefillLength },
}
for (const setup of [
  { name: "wasm + ds kernels (default)", backend: "wasm" as const, stock: false, train: true },
  { name: "wasm, stock kernels", backend: "wasm" as const, stock: true, train: true },
  { name: "cpu, stock kernels", backend: "cpu" as const, stock: true, train: false },
]) {
  const info = await initBackend(setup.backend, { stockKernels: setup.stock })
  const model: Model = { config, params: initParameters(config, 0) }
  // Stock wasm has no UnsortedSegmentSum, so the embedding gradient (and every gather gradient) throws there:
  // that failure is the figure, reported instead of a rate.
  const training = setup.train
    ? await measureTraining(model).then(Number, (e: unknown) => firstLine(e))
    : "skipped (minutes per step)"
  const decodeTokensPerSecond = await measureDecode(model)
  disposeParameters(model.params)
  rows.push({ setup: setup.name, "train tok/s": training, "decode tok/s": decodeTokensPerSecond })
  results[setup.name] = { backend: describeBackend(info), trainTokensPerSecond: training, decodeTokensPerSecond }
}
printTable(rows)
console.log(`wrote ${writeBenchResult("model.json", results)}`)
