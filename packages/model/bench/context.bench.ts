/**
 * `pnpm --filter @ds/model bench` (this file: `tsx --conditions=@ds/source bench/context.bench.ts`): decode speed of
 * the whole "small" preset (dim 256, 4 layers, index_topk 64) at long contexts, on each attention path
 * (docs/model.md §9), and the memory of a long generation:
 *
 *   decode tokens/s = 1 / (one cached decode step of B = 1 at position N),  N = 1K, 8K, 32K (DS_BENCH_CONTEXTS)
 *     dense         reference layer, selection "dense": every causal key (what attention costs without DSA)
 *     reference DSA reference layer, top-k selection (plain tfjs over the cache's tensor copy)
 *     fused DSA     the fused native layer over the in-place host cache (what `auto` runs here)
 *   ratio           fused DSA / dense, fused DSA / reference DSA
 *   prefill crossover  one layer's chunk of T tokens at start 0 (E = T): the fused DSA call against the
 *                   masked-dense (MHA) layer, T = 16 .. 512: the measured rule behind `prefersDense`
 *   generation      1,024 tokens sampled after a 16-token prompt (auto path): tfjs tensor count and process RSS
 *                   at steps 100 and 1,024
 *
 * The context is prefilled once per N (fused, 1,024-token chunks); every timed step then decodes at position N
 * again (a write at N rolls the sequence back), so each path times the same step. RSS is read after a full
 * collection when node runs with --expose-gc (`node --expose-gc --conditions=@ds/source --import tsx bench/context.bench.ts`). Results:
 * bench-results/model-context.json.
 */
import {
  attentionLayer,
  createKvCache,
  disposeAttentionWeights,
  disposeKvCache,
  dsaAttentionLayer,
  randomAttentionWeights,
} from "@ds/attention"
import { describeBackend, initBackend, Rng } from "@ds/core"
import { printTable, time, writeBenchResult } from "@ds/tooling/bench"
import * as tf from "@tensorflow/tfjs"
import { describeAttentionPath } from "../src/attention-path.ts"
import { decodeModelConfig, type ModelConfig } from "../src/config.ts"
import { generate } from "../src/generate.ts"
import { disposeParameters, initParameters } from "../src/params.ts"
import { smallPreset } from "../src/presets.ts"
import {
  createModelCache,
  disposeForward,
  disposeModelCache,
  type ForwardOptions,
  forward,
  type Model,
  type ModelCache,
} from "../src/transformer.ts"

const contexts = (process.env.DS_BENCH_CONTEXTS ?? "1024,8192,32768").split(",").map(Number)
const longest = Math.max(...contexts)
const config: ModelConfig = decodeModelConfig({ ...smallPreset, vocab_size: 263, max_seq_len: longest + 1100 })
const prefillChunk = 1024
const mib = (bytes: number) => Math.round(bytes / 2 ** 20)
/** RSS in MiB, after a full collection when node runs with --expose-gc (so unreclaimed garbage is not counted). */
const rssMiB = () => {
  ;(globalThis as { gc?: () => void }).gc?.()
  return mib(process.memoryUsage().rss)
}

const paths: ReadonlyArray<{ readonly name: string; readonly options: ForwardOptions }> = [
  { name: "dense", options: { attention: "reference", selection: "dense" } },
  { name: "reference DSA", options: { attention: "reference" } },
  { name: "fused DSA", options: { attention: "fused" } },
]

const prefill = (model: Model, cache: ModelCache, length: number, rng: Rng) => {
  for (let start = 0; start < length; start += prefillChunk) {
    const n = Math.min(prefillChunk, length - start)
    const ids = Int32Array.from({ length: n }, () => rng.int(0, config.vocab_size))
    const tokens = tf.tensor2d(ids, [1, n], "int32")
    disposeForward(forward(model, tokens, { cache, startPos: start, attention: "fused" }))
    tokens.dispose()
  }
}

const decodeRates = async (model: Model) => {
  const rows: Array<Record<string, number | string>> = []
  for (const context of contexts) {
    const cache = createModelCache(config, 1, context + 8)
    const started = performance.now()
    prefill(model, cache, context, Rng.make(context))
    const prefillSeconds = (performance.now() - started) / 1000
    const token = tf.tensor2d([7], [1, 1], "int32")
    const rates: Record<string, number> = {}
    for (const path of paths) {
      const step = () => disposeForward(forward(model, token, { cache, startPos: context, ...path.options }))
      const timing = await time(step, { warmup: 1, repeats: 7, budgetMs: 30_000 })
      rates[path.name] = 1000 / timing.medianMs
    }
    token.dispose()
    disposeModelCache(cache)
    const fused = rates["fused DSA"] as number
    rows.push({
      context,
      "dense tok/s": rates.dense as number,
      "reference DSA tok/s": rates["reference DSA"] as number,
      "fused DSA tok/s": fused,
      "fused/dense": fused / (rates.dense as number),
      "fused/reference DSA": fused / (rates["reference DSA"] as number),
      "prefill s": prefillSeconds,
      "rss MiB": rssMiB(),
    })
  }
  return rows
}

/** One layer, chunk of T tokens at start 0: fused DSA call vs masked-dense MHA, ms each. */
const prefillCrossover = async () => {
  const weights = randomAttentionWeights(config, 11)
  const rows: Array<Record<string, number>> = []
  for (const tokens of [16, 32, 64, 96, 128, 192, 256, 512]) {
    const x = tf.randomNormal([1, tokens, config.dim], 0, 1, "float32", tokens) as tf.Tensor3D
    const run = async (fused: boolean) => {
      const cache = createKvCache(config, 1, tokens)
      const timing = await time(
        () =>
          tf.tidy(() => {
            const r = fused
              ? dsaAttentionLayer(weights, config, x, { cache: cache.host })
              : attentionLayer(weights, config, x, { cache, mode: "mha" })
            return r.output.dataSync()
          }),
        { warmup: 1, repeats: 9, budgetMs: 10_000 },
      )
      disposeKvCache(cache)
      return timing.medianMs
    }
    const dsa = await run(true)
    const dense = await run(false)
    rows.push({ tokens, keys: tokens, "E / index_topk": tokens / config.index_topk, "dsa ms": dsa, "dense ms": dense })
    x.dispose()
  }
  disposeAttentionWeights(weights)
  return rows
}

/** 1,024 sampled tokens: tensor count and RSS at steps 100 and 1,024. */
const generation = (model: Model) => {
  const marks: Record<string, { readonly tensors: number; readonly rssMiB: number }> = {}
  const started = performance.now()
  generate(model, [Array.from({ length: 16 }, (_, i) => i + 3)], {
    maxNewTokens: 1024,
    sampling: { temperature: 1 },
    rng: Rng.make(3),
    onToken: ({ index }) => {
      if (index + 1 === 100 || index + 1 === 1024)
        marks[`step ${index + 1}`] = { tensors: tf.memory().numTensors, rssMiB: rssMiB() }
    },
  })
  return { ...marks, seconds: (performance.now() - started) / 1000 }
}

const main = async () => {
  const backend = await initBackend("auto")
  console.log(`backend: ${describeBackend(backend)}`)
  console.log(`attention auto: ${describeAttentionPath("auto")}`)
  const model: Model = { config, params: initParameters(config, 1) }
  console.log("\nprefill crossover, one layer (small preset, index_topk 64):")
  const crossover = await prefillCrossover()
  printTable(crossover)
  console.log("\ndecode tokens/s, whole small model, B = 1:")
  const decode = await decodeRates(model)
  printTable(decode)
  console.log("\n1,024-token generation (auto path):")
  const memory = generation(model)
  console.log(JSON.stringify(memory))
  disposeParameters(model.params)
  const path = writeBenchResult("model-context.json", {
    backend: describeBackend(backend),
    attention: describeAttentionPath("auto"),
    config: { preset: "small", max_seq_len: config.max_seq_len, index_topk: config.index_topk },
    decode,
    prefillCrossover: crossover,
    generation: memory,
  })
  console.log(`wrote ${path}`)
}

await main()
