/**
 * `pnpm --filter @ds/model bench`: training and decode throughput of the "small" preset (about 4 M parameters:
 * dim 256, 4 layers, 8 heads, 8 routed experts with 2 active + 1 shared, byte vocabulary of 263), `ds` against
 * PyTorch on the same config and shapes, in three interleaved rounds (docs/compute.md §5):
 *
 *   training tokens/s = B·T / (forward + backward + clip + AdamW step),  B = 8 sequences of T = 128 tokens
 *   decode tokens/s   = B / (one cached decode step),                    B = 1 and B = 4, after a 64-token prefill
 *   ratio             = ds / PyTorch, per round; the medians over rounds go to bench-results/model.json
 *
 * The PyTorch side is bench/torch_model.py (our float32 implementation of the same forward, see its header), run
 * with /usr/bin/python3 (Debian's python3-torch) when torch imports there; otherwise one line says it is skipped.
 * Each side at its best: ds on its default backend (wasm + ds kernels + native OpenBLAS), PyTorch at threads =
 * cores and at one thread (on a loaded machine OpenMP's spinning threads can lose 10x), keeping the faster. Both load
 * the same OpenBLAS under the same OPENBLAS_CORETYPE (the child inherits what the addon chose). In round 1 PyTorch
 * starts from ds's initial weights and batch, and both first-step losses are printed: the same function, twice.
 *
 * `DS_BENCH_STOCK=1` adds the stock-kernel baselines (pure-JS cpu: one 128-token sequence; stock wasm, whose
 * training step fails at the embedding gradient: the failure is reported in place of a rate).
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { cpus, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { type BackendInfo, describeBackend, initBackend, Rng } from "@ds/core"
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
const decodeBatches = [1, 4] as const
const prefillLength = 64
const rounds = 3
const python = "/usr/bin/python3"
const torchScript = join(dirname(fileURLToPath(import.meta.url)), "torch_model.py")

interface Rates {
  readonly train: number
  readonly decode: Readonly<Record<string, number>>
}

const randomTokens = (rng: Rng, n: number): Int32Array =>
  Int32Array.from({ length: n }, () => rng.int(0, config.vocab_size))

const trainingBatch = (rows: number) => {
  const rng = Rng.make(1)
  return {
    batch: rows,
    length: trainLength,
    inputs: randomTokens(rng, rows * trainLength),
    targets: randomTokens(rng, rows * trainLength),
  }
}

/** Tokens/s of the training step, and the loss of the first (untimed) step. */
const measureTraining = async (model: Model, repeats: number, rows: number) => {
  const optimizer = initAdamW(new Map([...model.params].filter(([n, v]) => v.trainable && !n.includes(".indexer."))))
  const batch = trainingBatch(rows)
  const step = () =>
    trainStep(model, optimizer, [batch], { learningRate: 1e-4, adamW: defaultAdamW, biasUpdateSpeed: 1e-3 })
  const firstLoss = step().loss
  const timing = await time(step, { warmup: 0, repeats, budgetMs: 60_000 })
  return { tokensPerSecond: (rows * trainLength) / (timing.medianMs / 1000), firstLoss }
}

const measureDecode = async (model: Model, batch: number): Promise<number> => {
  const rng = Rng.make(2)
  const cache = createModelCache(config, batch, prefillLength + 64)
  const prompt = tf.tensor2d(randomTokens(rng, batch * prefillLength), [batch, prefillLength], "int32")
  disposeForward(forward(model, prompt, { cache }))
  prompt.dispose()
  const timing = await time(
    () => {
      const next = tf.tensor2d(randomTokens(rng, batch), [batch, 1], "int32")
      // Every timed step decodes at position 64: the same context length each time.
      disposeForward(forward(model, next, { cache, startPos: prefillLength }))
      next.dispose()
    },
    { warmup: 2, repeats: 16, budgetMs: 30_000 },
  )
  disposeModelCache(cache)
  return batch / (timing.medianMs / 1000)
}

/** ds's initial weights as raw float32 (names and shapes alongside), for the PyTorch side to load. */
const exportParameters = (model: Model, path: string) => {
  const names = [...model.params.keys()]
  const chunks = names.map((n) => {
    const data = (model.params.get(n) as tf.Variable).dataSync<"float32">()
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  })
  writeFileSync(path, Buffer.concat(chunks))
  return { params: path, names, shapes: names.map((n) => (model.params.get(n) as tf.Variable).shape) }
}

const measureDs = async (round: number, scratch: string) => {
  const model: Model = { config, params: initParameters(config, 0) }
  const exported = round === 0 ? exportParameters(model, join(scratch, "params.f32")) : undefined
  const training = await measureTraining(model, 5, trainBatch)
  const decode: Record<string, number> = {}
  for (const b of decodeBatches) decode[b] = await measureDecode(model, b)
  disposeParameters(model.params)
  return { rates: { train: training.tokensPerSecond, decode }, firstLoss: training.firstLoss, exported }
}

/** Why the PyTorch peer cannot run here, or undefined when it can. */
const torchMissing = (): string | undefined => {
  const probe = spawnSync(python, ["-c", "import torch"], { encoding: "utf8" })
  if (probe.error !== undefined) return `${python} not found (${probe.error.message})`
  if (probe.status !== 0) return `torch does not import in ${python} (apt install python3-torch)`
  return undefined
}

interface TorchResult {
  readonly threads: number
  readonly torch: string
  readonly firstLoss: number
  readonly trainTokensPerSecond: number
  readonly decodeTokensPerSecond: Readonly<Record<string, number>>
}

const runTorch = (threads: number, extra: Record<string, unknown>): TorchResult => {
  const request = {
    config,
    train: [trainBatch, trainLength],
    decode: decodeBatches.map((b) => [b, prefillLength]),
    repeats: 5,
    threads,
    ...extra,
  }
  const run = spawnSync(python, [torchScript], { input: JSON.stringify(request), encoding: "utf8" })
  if (run.status !== 0) throw new Error(`torch_model.py failed: ${run.stderr.trim().split("\n").at(-1) ?? ""}`)
  return JSON.parse(run.stdout) as TorchResult
}

/** PyTorch at threads = cores and at one thread; per figure, the faster. */
const measureTorch = (extra: Record<string, unknown>) => {
  const counts = [...new Set([cpus().length, 1])]
  const runs = counts.map((threads) => runTorch(threads, extra))
  const best = (pick: (r: TorchResult) => number) => Math.max(...runs.map(pick))
  const rates: Rates = {
    train: best((r) => r.trainTokensPerSecond),
    decode: Object.fromEntries(decodeBatches.map((b) => [b, best((r) => r.decodeTokensPerSecond[b] ?? 0)])),
  }
  return { rates, runs }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1] as number
}

const firstLine = (error: unknown): string =>
  `fails: ${String(error instanceof Error ? error.message : error).split("\n")[0] ?? ""}`

const compare = async (info: BackendInfo) => {
  const missing = torchMissing()
  if (missing !== undefined) console.log(`PyTorch peer skipped: ${missing}`)
  const scratch = mkdtempSync(join(tmpdir(), "ds-model-bench-"))
  const perRound: Array<{ ds: Rates; torch?: Rates; torchRuns?: ReadonlyArray<TorchResult> }> = []
  try {
    for (let round = 0; round < rounds; round++) {
      const ds = await measureDs(round, scratch)
      console.log(
        `round ${round + 1} ds: train ${ds.rates.train.toFixed(0)} tok/s, decode ${JSON.stringify(ds.rates.decode)}`,
      )
      if (missing !== undefined) {
        perRound.push({ ds: ds.rates })
        continue
      }
      const sameStart =
        ds.exported === undefined
          ? {}
          : {
              ...ds.exported,
              inputs: [...trainingBatch(trainBatch).inputs],
              targets: [...trainingBatch(trainBatch).targets],
            }
      const torch = measureTorch(sameStart)
      if (ds.exported !== undefined)
        console.log(
          `same weights and batch, first-step loss: ds ${ds.firstLoss.toFixed(5)}, PyTorch ${torch.runs.map((r) => r.firstLoss.toFixed(5)).join(" / ")}`,
        )
      console.log(
        `round ${round + 1} PyTorch: train ${torch.rates.train.toFixed(0)} tok/s, decode ${JSON.stringify(torch.rates.decode)}`,
      )
      perRound.push({ ds: ds.rates, torch: torch.rates, torchRuns: torch.runs })
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  const figure = (side: "ds" | "torch", pick: (r: Rates) => number) =>
    median(perRound.map((r) => (r[side] === undefined ? Number.NaN : pick(r[side] as Rates))))
  const ratio = (pick: (r: Rates) => number) =>
    median(perRound.map((r) => (r.torch === undefined ? Number.NaN : pick(r.ds) / pick(r.torch))))
  const picks: ReadonlyArray<[string, (r: Rates) => number]> = [
    ["train tok/s", (r) => r.train],
    ...decodeBatches.map((b): [string, (r: Rates) => number] => [`decode tok/s B=${b}`, (r) => r.decode[b] ?? 0]),
  ]
  printTable(
    picks.map(([name, pick]) => ({
      figure: name,
      ds: figure("ds", pick),
      PyTorch: missing === undefined ? figure("torch", pick) : "skipped",
      "ds / PyTorch": missing === undefined ? ratio(pick) : "skipped",
    })),
  )
  return {
    backend: describeBackend(info),
    rounds: perRound,
    ...(missing === undefined ? {} : { torchSkipped: missing }),
    median: Object.fromEntries(
      picks.map(([name, pick]) => [
        name,
        {
          ds: figure("ds", pick),
          ...(missing === undefined ? { torch: figure("torch", pick), ratio: ratio(pick) } : {}),
        },
      ]),
    ),
  }
}

const stockBaselines = async () => {
  const out: Record<string, unknown> = {}
  for (const setup of [
    // One 128-token sequence: a full batch takes many minutes per step on the pure-JS backend.
    { name: "cpu, stock kernels", backend: "cpu" as const, rows: 1 },
    { name: "wasm, stock kernels", backend: "wasm" as const, rows: trainBatch },
  ]) {
    const info = await initBackend(setup.backend, { stockKernels: true })
    const model: Model = { config, params: initParameters(config, 0) }
    // Stock wasm has no UnsortedSegmentSum, so the embedding gradient throws there: that failure is the figure.
    const training = await measureTraining(model, 1, setup.rows).then(
      (t) => t.tokensPerSecond,
      (e: unknown) => firstLine(e),
    )
    const decode = await measureDecode(model, 4)
    disposeParameters(model.params)
    console.log(`${setup.name}: train ${training} tok/s, decode B=4 ${decode.toFixed(1)} tok/s`)
    out[setup.name] = {
      backend: describeBackend(info),
      trainTokensPerSecond: training,
      decodeTokensPerSecondB4: decode,
    }
  }
  return out
}

const info = await initBackend("wasm")
console.log(`ds: ${describeBackend(info)}`)
const results: Record<string, unknown> = {
  config: {
    preset: "small",
    parameters: countParameters(config),
    trainBatch,
    trainLength,
    decodeBatches,
    prefillLength,
    rounds,
  },
  "ds vs PyTorch": await compare(info),
  ...(process.env.DS_BENCH_STOCK === "1" ? await stockBaselines() : {}),
}
console.log(`wrote ${writeBenchResult("model.json", results)}`)
