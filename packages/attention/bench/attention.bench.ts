/**
 * `pnpm --filter @ds/attention bench`: the paper's Figure 3 on this machine (issue 3) — the cost per token of one
 * DeepSeek-V3.2 671B attention layer at position P, dense MLA (V3.1) against DSA (V3.2), batch 1, float32:
 *
 *   decode:  one new token with P cached — dense MLA in absorbed MQA mode vs DSA (MQA mode)
 *   prefill: a chunk of 32 new tokens at start position P — dense MLA in MHA mode over keys and values already
 *            up-projected for the P cached tokens vs DSA (MQA mode); the heads and index heads are divided by the
 *            same power of two when the up-projected cache would not fit in a quarter of the memory (stated)
 *
 * What is timed: steps.ts (from the projected queries and new cache rows to the per-head outputs; the x- and
 * output projections, identical for both methods, are timed separately as `projection_ms`). DSA runs with float32
 * index keys (the figures) and with the 8-bit index-key cache (the paper's FP8 analogue, `dsa_int8_ms`).
 * Writes bench-results/attention.json and bench-results/attention-cost.svg. Positions can be narrowed for a quick
 * look with ATTENTION_BENCH_POSITIONS=1024,131072.
 */
import { cpus, loadavg, totalmem } from "node:os"
import { renderLineChart } from "@ds/core"
import { printTable, time, writeBenchResult } from "@ds/tooling/bench"
import { nativeAttention, nativeAttentionReason } from "../src/index.ts"
import { type BlasShape, shapeFlops } from "./blas-reference.ts"
import { config671B, headDivisorFor, phaseSizes } from "./setup.ts"
import { type PhaseBench, phaseBench } from "./steps.ts"

/**
 * OpenBLAS's idle worker threads spin for 2^28 cycles (~0.1 s) after every call by default, holding a core that the
 * attention kernels' own second thread then waits for (measured: the indexer right after an sgemm ran at half
 * speed). 2^4 cycles makes them sleep at once. OpenBLAS reads this when the addon loads, which is lazy: set it first.
 */
process.env.OPENBLAS_THREAD_TIMEOUT ??= "4"

const positions = (process.env.ATTENTION_BENCH_POSITIONS ?? "1024,4096,16384,32768,65536,131072")
  .split(",")
  .map((p) => Number.parseInt(p, 10))
const chunk = 32

const native = nativeAttention()
if (native === undefined) {
  console.error(`attention bench needs the native addon: ${nativeAttentionReason()}`)
  process.exit(1)
}

/** Fewer repeats where one step takes long (the whole bench stays within minutes on 2 cores). */
const repeatsAt = (position: number) => (position <= 16_384 ? 9 : position <= 65_536 ? 7 : 5)

/** One product of the sgemm reference at one position: its shape, median time and rate. */
interface BlasMeasured extends BlasShape {
  readonly ms: number
  readonly gflops: number
}

interface Measured {
  readonly position: number
  readonly dense_ms: number
  readonly dsa_ms: number
  readonly dsa_int8_ms: number
  readonly dense_gflops: number
  readonly dsa_gflops: number
  readonly dsa_int8_gflops: number
  /** The dense step's products as plain sgemm calls (blas-reference.ts), measured in the same rounds. */
  readonly blas_ms: number
  readonly blas_gflops: number
  readonly blas: ReadonlyArray<BlasMeasured>
  /** Each path's GFLOP/s over blas_gflops (dense ≥ 0.8 is the goal: the baseline at its best). */
  readonly efficiency: { readonly dense: number; readonly dsa: number; readonly dsa_int8: number }
  readonly ratio: number
  readonly ratio_int8: number
  readonly ratio_with_projections: number
  readonly projection_ms: number
}

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/**
 * Median milliseconds of each function over interleaved rounds (one sample of each per round, after one warm-up
 * each), so a change in the machine's load hits every method alike (docs/compute.md §1: medians of interleaved runs).
 */
const interleavedMedians = async (fns: ReadonlyArray<() => void>, rounds: number): Promise<Array<number>> => {
  for (const fn of fns) await time(fn, { warmup: 0, repeats: 1 })
  const samples = fns.map(() => [] as Array<number>)
  for (let round = 0; round < rounds; round++)
    for (const [i, fn] of fns.entries()) samples[i]?.push((await time(fn, { warmup: 0, repeats: 1 })).medianMs)
  return samples.map(median)
}

/** Runs the sgemm reference's products in turn, keeping each one's time (the warm-up run's samples are dropped). */
const blasRun = (bench: PhaseBench, position: number) => {
  const products = bench.blasProducts(position)
  const samples = products.map(() => [] as Array<number>)
  return {
    run: () =>
      products.forEach((p, i) => {
        const start = performance.now()
        p.run()
        samples[i]?.push(performance.now() - start)
      }),
    measured: (): Array<BlasMeasured> =>
      products.map(({ run: _, ...shape }, i) => {
        const ms = median(samples[i]?.slice(1) ?? [])
        return { ...shape, ms, gflops: shapeFlops(shape) / ms / 1e6 }
      }),
  }
}

const measurePhase = async (name: string, bench: PhaseBench): Promise<ReadonlyArray<Measured>> => {
  const projection = await time(bench.projections, { warmup: 1, repeats: 5 })
  const rows: Array<Measured> = []
  for (const position of positions) {
    const reference = blasRun(bench, position)
    const [dense = 0, dsa = 0, dsaInt8 = 0, blasTotal = 0] = await interleavedMedians(
      [
        () => bench.dense(position),
        () => bench.dsa(position, "float32"),
        () => bench.dsa(position, "int8"),
        reference.run,
      ],
      repeatsAt(position),
    )
    const blas = reference.measured()
    const blasGflops = blas.reduce((total, p) => total + shapeFlops(p), 0) / blasTotal / 1e6
    const gflops = {
      dense: bench.denseFlops(position) / dense / 1e6,
      dsa: bench.dsaFlops(position) / dsa / 1e6,
      dsa_int8: bench.dsaFlops(position) / dsaInt8 / 1e6,
    }
    rows.push({
      position,
      dense_ms: dense,
      dsa_ms: dsa,
      dsa_int8_ms: dsaInt8,
      dense_gflops: gflops.dense,
      dsa_gflops: gflops.dsa,
      dsa_int8_gflops: gflops.dsa_int8,
      blas_ms: blasTotal,
      blas_gflops: blasGflops,
      blas,
      efficiency: {
        dense: gflops.dense / blasGflops,
        dsa: gflops.dsa / blasGflops,
        dsa_int8: gflops.dsa_int8 / blasGflops,
      },
      ratio: dense / dsa,
      ratio_int8: dense / dsaInt8,
      ratio_with_projections: (dense + projection.medianMs) / (dsa + projection.medianMs),
      projection_ms: projection.medianMs,
    })
    console.log(
      `${name} P=${position}: dense ${dense.toFixed(2)} ms, DSA ${dsa.toFixed(2)} ms, DSA int8 ${dsaInt8.toFixed(2)} ms, sgemm reference ${blasTotal.toFixed(2)} ms (${blas.map((p) => `${p.product} ${p.gflops.toFixed(0)}`).join(", ")} GFLOP/s)`,
    )
  }
  return rows
}

const loadAtStart = loadavg()[0] ?? 0
const maxKeys = Math.max(...positions) + chunk
const decodeSizes = phaseSizes(config671B, 1)
const prefillDivisor = headDivisorFor(config671B, maxKeys)
const prefillSizes = phaseSizes(config671B, prefillDivisor)
const blas = native.blasInfo()

console.log(
  `attention bench: one 671B layer, batch 1, fp32, OpenBLAS ${blas.corename} × ${blas.threads} threads, load average ${loadAtStart.toFixed(2)} on ${cpus().length} CPUs`,
)
console.log(
  `8-bit indexer path: ${native.attentionInfo().int8Indexer}; OPENBLAS_THREAD_TIMEOUT=${process.env.OPENBLAS_THREAD_TIMEOUT}; positions ${positions.join(", ")}`,
)
console.log(
  prefillDivisor === 1
    ? "prefill at full heads"
    : `prefill: heads and index heads divided by ${prefillDivisor} (${prefillSizes.heads} heads, ${prefillSizes.indexHeads} index heads): the up-projected MHA cache at ${maxKeys} keys would need ${((maxKeys * config671B.n_heads * 256 * 4) / 2 ** 30).toFixed(1)} GiB`,
)

const decode = await measurePhase("decode", phaseBench(native, decodeSizes, 1, maxKeys, "mqa"))
const prefill = (await measurePhase("prefill", phaseBench(native, prefillSizes, chunk, maxKeys, "mha"))).map((r) => ({
  ...r,
  chunk,
}))

const tableRows = (rows: ReadonlyArray<Measured>, perToken: number) =>
  rows.map((r) => ({
    position: r.position,
    "dense ms": r.dense_ms,
    "DSA ms": r.dsa_ms,
    "DSA int8 ms": r.dsa_int8_ms,
    "dense ms/token": r.dense_ms / perToken,
    "DSA ms/token": r.dsa_ms / perToken,
    "sgemm ms": r.blas_ms,
    "sgemm GFLOP/s": r.blas_gflops,
    "dense GFLOP/s": r.dense_gflops,
    "dense eff.": r.efficiency.dense,
    "DSA GFLOP/s": r.dsa_gflops,
    "DSA eff.": r.efficiency.dsa,
    "int8 eff.": r.efficiency.dsa_int8,
    "dense/DSA": r.ratio,
    "dense/DSA int8": r.ratio_int8,
    "with proj.": r.ratio_with_projections,
  }))

console.log("\ndecode (1 token; dense = MQA mode)")
printTable(tableRows(decode, 1))
console.log(
  `\nprefill (chunk of ${chunk}; dense = MHA mode over up-projected keys/values; ${prefillSizes.heads} heads, ${prefillSizes.indexHeads} index heads)`,
)
printTable(tableRows(prefill, chunk))
console.log(
  `\nprojections (x → q, kv, indexer; o → wo), not in the steps: decode ${decode[0]?.projection_ms.toFixed(2)} ms, prefill ${prefill[0]?.projection_ms.toFixed(2)} ms per chunk`,
)

const at = (rows: ReadonlyArray<Measured>, position: number) => rows.find((r) => r.position === position)
const growth = (rows: ReadonlyArray<Measured>, key: "dense_ms" | "dsa_ms" | "dsa_int8_ms") => {
  const from = at(rows, 4096)
  const to = at(rows, 131_072)
  return from !== undefined && to !== undefined ? to[key] / from[key] : undefined
}
const lowestEfficiency = (rows: ReadonlyArray<Measured>) => Math.min(...rows.map((r) => r.efficiency.dense))
const goals = {
  dense_decode_efficiency_min: { value: lowestEfficiency(decode), goal: ">= 0.8" },
  dense_prefill_efficiency_min: { value: lowestEfficiency(prefill), goal: ">= 0.8" },
  decode_ratio_128k: { value: at(decode, 131_072)?.ratio, goal: ">= 10" },
  decode_ratio_int8_128k: { value: at(decode, 131_072)?.ratio_int8, goal: ">= 10" },
  dsa_decode_growth_4k_to_128k: { value: growth(decode, "dsa_ms"), goal: "<= 5" },
  dsa_int8_decode_growth_4k_to_128k: { value: growth(decode, "dsa_int8_ms"), goal: "<= 5" },
  dense_decode_growth_4k_to_128k: { value: growth(decode, "dense_ms"), goal: "~32" },
  prefill_ratio_128k: { value: at(prefill, 131_072)?.ratio, goal: ">= 3.5" },
  prefill_ratio_int8_128k: { value: at(prefill, 131_072)?.ratio_int8, goal: ">= 3.5" },
}
console.log("\ngoals")
printTable(Object.entries(goals).map(([name, g]) => ({ goal: name, value: g.value ?? Number.NaN, target: g.goal })))

const timed = [
  "per step, from the projected queries and new cache rows to the per-head outputs o [T, H, v]:",
  "dense decode = write latent row + absorb W_UK + dense MQA attention over all E = P + 1 latent rows (BLAS, key blocks with online softmax) + absorb W_UV;",
  "dense prefill = write latent rows + up-project them with Wkv_b into the per-head k/v caches + MHA attention over",
  "E = P + 32 keys (the P cached keys/values already up-projected); DSA = write latent rows and index keys",
  "(8-bit: quantised) + absorb W_UK + index scores, exact top-2048 and sparse MQA attention in one native call +",
  "absorb W_UV. Excluded from both (timed once as projection_ms): wq_a, wq_b, wkv_a, indexer wq_b/wk/weights_proj, wo;",
  "norms and RoPE. Median of interleaved repeats (dense, DSA, DSA int8, sgemm reference in turn); ms per step (prefill: per chunk of 32 tokens).",
  "sgemm reference (blas_ms, blas_gflops, blas[] per product): the dense step's matrix products alone as cblas_sgemm calls on the same shapes",
  "(full T x E rectangles; see bench/blas-reference.ts); efficiency = the path's GFLOP/s / blas_gflops.",
].join(" ")

const record = {
  config: {
    model: "DeepSeek-V3.2 671B attention, one layer",
    batch: 1,
    dtype: "float32",
    heads: config671B.n_heads,
    kv_lora_rank: config671B.kv_lora_rank,
    qk_rope_head_dim: config671B.qk_rope_head_dim,
    qk_nope_head_dim: config671B.qk_nope_head_dim,
    v_head_dim: config671B.v_head_dim,
    q_lora_rank: config671B.q_lora_rank,
    index_n_heads: config671B.index_n_heads,
    index_head_dim: config671B.index_head_dim,
    index_topk: config671B.index_topk,
    positions,
    prefill_chunk: chunk,
    decode_head_divisor: 1,
    prefill_head_divisor: prefillDivisor,
    prefill_heads: prefillSizes.heads,
    prefill_index_heads: prefillSizes.indexHeads,
    head_divisor_reason:
      prefillDivisor === 1
        ? "none needed"
        : `the up-projected MHA cache (k_nope + v for every head) at ${maxKeys} keys exceeds a quarter of the ${(totalmem() / 2 ** 30).toFixed(0)} GiB of memory; heads and index heads divided by the same factor keep every cost ratio`,
    timed,
    blas: `${blas.config} (${blas.corename}), ${blas.threads} threads`,
    openblas_thread_timeout: `2^${process.env.OPENBLAS_THREAD_TIMEOUT} cycles (OPENBLAS_THREAD_TIMEOUT)`,
    int8_indexer_path: native.attentionInfo().int8Indexer,
    cpu: `${cpus()[0]?.model ?? "unknown"} × ${cpus().length}`,
    load_average_1min: { start: loadAtStart, end: loadavg()[0] ?? 0 },
  },
  decode,
  prefill,
  goals,
}
console.log(`\nwrote ${writeBenchResult("attention.json", record)}`)

const series = (rows: ReadonlyArray<Measured>, key: "dense_ms" | "dsa_ms" | "dsa_int8_ms", perToken: number) =>
  rows.map((r) => [r.position / 1024, r[key] / perToken] as const)
const svg = renderLineChart({
  title: "Attention cost per token vs position (one 671B layer, fp32, this CPU)",
  x: { label: "token position (K)" },
  y: { label: "ms per token", log: true },
  series: [
    { name: "decode, dense MLA (MQA)", points: series(decode, "dense_ms", 1) },
    { name: "decode, DSA", points: series(decode, "dsa_ms", 1) },
    { name: "decode, DSA 8-bit keys", points: series(decode, "dsa_int8_ms", 1) },
    { name: `prefill, dense MLA (MHA), ${prefillSizes.heads} heads`, points: series(prefill, "dense_ms", chunk) },
    { name: `prefill, DSA, ${prefillSizes.heads} heads`, points: series(prefill, "dsa_ms", chunk) },
    { name: `prefill, DSA 8-bit keys, ${prefillSizes.heads} heads`, points: series(prefill, "dsa_int8_ms", chunk) },
  ],
  width: 820,
  height: 480,
})
console.log(`wrote ${writeBenchResult("attention-cost.svg", svg)}`)
