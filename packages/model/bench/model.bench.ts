/**
 * `pnpm --filter @ds/model bench`: training and decode throughput of the "small" preset (about 3 M parameters:
 * dim 256, 4 layers, 8 heads, 8 routed experts with 2 active + 1 shared, byte vocabulary of 263) on the default
 * backend (wasm + this project's kernels) and on stock tfjs kernels: the pure-JS cpu backend (one timed training
 * step over ONE 128-token sequence: a full batch takes many minutes there) and stock wasm (which has no UnsortedSegmentSum, so its training step fails at
 * the gradient of the embedding gather; the failure is reported in place of a rate).
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

const measureTraining = async (model: Model, repeats: number, rows: number): Promise<number> => {
  const rng = Rng.make(1)
  const inputs = randomTokens(rng, rows * trainLength)
  const targets = randomTokens(rng, rows * trainLength)
  const optimizer = initAdamW(new Map([...model.params].filter(([n, v]) => v.trainable && !n.includes(".indexer."))))
  const batch = { batch: rows, length: trainLength, inputs, targets }
  const timing = await time(
    () => trainStep(model, optimizer, [batch], { learningRate: 1e-4, adamW: defaultAdamW, biasUpdateSpeed: 1e-3 }),
    { warmup: repeats > 1 ? 1 : 0, repeats, budgetMs: 60_000 },
  )
  return (rows * trainLength) / (timing.medianMs / 1000)
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
const only = process.env.DS_BENCH_ONLY
for (const setup of [
  {
    name: "wasm + ds kernels (default)",
    backend: "wasm" as const,
    stock: false,
    trainRepeats: 5,
    trainRows: trainBatch,
  },
  // One 128-token sequence: a full batch takes many minutes per step on the pure-JS backend.
  { name: "cpu, stock kernels", backend: "cpu" as const, stock: true, trainRepeats: 1, trainRows: 1 },
  { name: "wasm, stock kernels", backend: "wasm" as const, stock: true, trainRepeats: 1, trainRows: trainBatch },
]) {
  if (only !== undefined && !setup.name.startsWith(only)) continue
  const info = await initBackend(setup.backend, { stockKernels: setup.stock })
  const model: Model = { config, params: initParameters(config, 0) }
  // Stock wasm has no UnsortedSegmentSum, so the embedding gradient (and every gather gradient) throws there:
  // that failure is the figure, reported instead of a rate.
  const training = await measureTraining(model, setup.trainRepeats, setup.trainRows).then(Number, (e: unknown) =>
    firstLine(e),
  )
  const decodeTokensPerSecond = await measureDecode(model)
  disposeParameters(model.params)
  rows.push({ setup: setup.name, "train tok/s": training, "decode tok/s": decodeTokensPerSecond })
  console.log(`${setup.name}: train ${training} tok/s, decode ${decodeTokensPerSecond.toFixed(1)} tok/s`)
  results[setup.name] = { backend: describeBackend(info), trainTokensPerSecond: training, decodeTokensPerSecond }
}
printTable(rows)
console.log(`wrote ${writeBenchResult("model.json", results)}`)
