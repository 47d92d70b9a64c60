/**
 * The kernel benchmark: the fast kernels against stock tfjs, in one run (`ds bench`, `pnpm --filter @ds/core bench`;
 * DS_BLAS_THREADS=n changes OpenBLAS threads, default 2).
 *
 * Configurations: default (wasm + fast kernels + native OpenBLAS when it loads), fast kernels without native,
 * stock wasm, stock cpu. Workloads (docs/compute.md §2): matmul n x n at 256/512/1024/2048, batched 16 x (256x64 @ 64x256),
 * transposed 1024 x 1024 (a @ bᵀ, the shape of every matmul gradient), softmax over [4096, 4096], gather of 2048
 * rows of [65536, 128], top-k 2048 of [64, 65536]. Matmuls report GFLOP/s (2mnk / time), the rest milliseconds;
 * every figure is a median over runs interleaved across the wasm configurations (one run when a single one takes
 * over 1.5 s). Stock cpu runs last and is skipped where one run would take more than a few seconds (estimated
 * from 0.5 GFLOP/s; softmax took 6 s in docs/compute.md §2).
 * Returns the table and the JSON record (the callers write it to bench-results/core.json).
 * Leaves the wasm backend with the fast kernels selected.
 */
import { cpus } from "node:os"
import * as tf from "@tensorflow/tfjs"
import { initBackend } from "../backend/backend.ts"
import { type FastKernelReport, registerFastKernels, restoreStockKernels } from "../kernels/index.ts"
import { describeNativeBlas, loadNative } from "../native/addon.ts"
import { printTable, time } from "./timing.ts"

type ConfigName = "default (native)" | "fast, no native" | "stock wasm" | "stock cpu"

interface Workload {
  readonly name: string
  /** GFLOP/s when flops are given, else milliseconds. */
  readonly flops?: number
  /** Estimated seconds per run on stock cpu; skipped there above `cpuLimitSeconds`. */
  readonly cpuSeconds: number
  /** Builds inputs on the current backend and returns the timed function (output disposed) and a cleanup. */
  readonly setup: () => { readonly run: () => void; readonly dispose: () => void }
}

const cpuLimitSeconds = 3
const stockCpuGflops = 0.5

const matMulWorkload = (
  name: string,
  batch: number,
  [m, k, n]: readonly [number, number, number],
  transposeB = false,
): Workload => {
  const flops = 2 * batch * m * k * n
  return {
    name,
    flops,
    cpuSeconds: flops / (stockCpuGflops * 1e9),
    setup: () => {
      const lead = batch === 1 ? [] : [batch]
      const a = tf.randomUniform([...lead, m, k], -1, 1, "float32", 1)
      const b = tf.randomUniform([...lead, ...(transposeB ? [n, k] : [k, n])], -1, 1, "float32", 2)
      return { run: () => tf.matMul(a, b, false, transposeB).dispose(), dispose: () => tf.dispose([a, b]) }
    },
  }
}

const workloads: ReadonlyArray<Workload> = [
  ...[256, 512, 1024, 2048].map((n) => matMulWorkload(`matmul ${n}x${n}`, 1, [n, n, n])),
  matMulWorkload("matmul batched 16x(256x64 @ 64x256)", 16, [256, 64, 256]),
  matMulWorkload("matmul transposed 1024 (a @ bT)", 1, [1024, 1024, 1024], true),
  {
    name: "softmax [4096, 4096]",
    cpuSeconds: 6,
    setup: () => {
      const x = tf.randomNormal([4096, 4096], 0, 1, "float32", 3)
      return { run: () => tf.softmax(x).dispose(), dispose: () => x.dispose() }
    },
  },
  {
    name: "gather 2048 rows of [65536, 128]",
    cpuSeconds: 0.1,
    setup: () => {
      const table = tf.randomUniform([65536, 128], -1, 1, "float32", 4)
      const ids = tf.randomUniform([2048], 0, 65536, "int32", 5)
      return { run: () => tf.gather(table, ids).dispose(), dispose: () => tf.dispose([table, ids]) }
    },
  },
  {
    name: "top-k 2048 of [64, 65536]",
    cpuSeconds: 2,
    setup: () => {
      const x = tf.randomUniform([64, 65536], 0, 1, "float32", 6)
      return {
        run: () => {
          const { values, indices } = tf.topk(x, 2048)
          tf.dispose([values, indices])
        },
        dispose: () => x.dispose(),
      }
    },
  },
]

interface Cell {
  readonly value?: number
  readonly ms?: number
  readonly samples?: number
  readonly skipped?: string
}

const rounds = 3

const cellOf = (workload: Workload, samples: ReadonlyArray<number>): Cell => {
  const sorted = [...samples].sort((p, q) => p - q)
  const ms = sorted[sorted.length >> 1] as number
  return {
    ms,
    samples: samples.length,
    ...(workload.flops === undefined ? {} : { value: workload.flops / (ms * 1e6) }),
  }
}

/**
 * Times one workload under several kernel configurations of the current backend, interleaved: each round runs
 * every configuration once more (3 rounds of up to 3 runs), so load from other processes hits all alike. A
 * configuration whose single run takes over 1.5 s gets that one run.
 */
const measureInterleaved = async (
  workload: Workload,
  configs: ReadonlyArray<readonly [ConfigName, () => unknown]>,
): Promise<ReadonlyArray<Cell>> => {
  const { run, dispose } = workload.setup()
  const samples = configs.map((): Array<number> => [])
  const slow = configs.map(() => false)
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [i, [, enable]] of configs.entries()) {
        if (slow[i]) continue
        enable()
        const timing = await time(run, { warmup: round === 0 ? 1 : 0, repeats: 3, budgetMs: 1500 })
        samples[i]?.push(timing.medianMs)
        if (timing.medianMs > 1500) slow[i] = true
      }
    }
  } finally {
    dispose()
  }
  process.stderr.write(`  ${workload.name} done\n`)
  return samples.map((s) => cellOf(workload, s))
}

/** Stock cpu, skipping workloads estimated above a few seconds per run. */
const measureStockCpu = async (workload: Workload): Promise<Cell> => {
  if (workload.cpuSeconds > cpuLimitSeconds) return { skipped: `skipped (~${Math.round(workload.cpuSeconds)} s/run)` }
  const { run, dispose } = workload.setup()
  try {
    const timing = await time(run, { warmup: 1, repeats: 3, budgetMs: 3000 })
    return cellOf(workload, [timing.medianMs])
  } finally {
    dispose()
  }
}

const cellText = (workload: Workload, cell: Cell | undefined): string | number => {
  if (cell === undefined) return "n/a"
  if (cell.skipped !== undefined) return cell.skipped
  return workload.flops === undefined ? (cell.ms ?? Number.NaN) : (cell.value ?? Number.NaN)
}

/** default / stock wasm as a speedup: stock time / default time (the GFLOP/s ratio for matmuls). */
const speedup = (fast: Cell | undefined, stock: Cell | undefined): string => {
  if (fast?.ms === undefined || stock?.ms === undefined) return "n/a"
  return `${(stock.ms / fast.ms).toFixed(1)}x`
}

export interface KernelBenchmarkResult {
  /** The printed table, one record per workload. */
  readonly table: ReadonlyArray<Record<string, string | number>>
  /** Everything measured, for bench-results/core.json. */
  readonly record: Record<string, unknown>
}

/** Runs every workload under every configuration, prints the table, and returns the figures. */
export const runKernelBenchmark = async (): Promise<KernelBenchmarkResult> => {
  const native = loadNative()
  const results = new Map<ConfigName, ReadonlyArray<Cell>>()
  const reports: Partial<Record<ConfigName, FastKernelReport>> = {}

  const wasm = await initBackend("wasm")
  if (native.addon === undefined) {
    process.stderr.write(`native addon unavailable (${native.reason}): the default column is the wasm kernels\n`)
  }
  const configs: ReadonlyArray<readonly [ConfigName, () => unknown]> = [
    ["default (native)", () => registerFastKernels("wasm")],
    ["fast, no native", () => registerFastKernels("wasm", { native: false })],
    ["stock wasm", () => restoreStockKernels("wasm")],
  ]
  reports["default (native)"] = registerFastKernels("wasm")
  reports["fast, no native"] = registerFastKernels("wasm", { native: false })
  const wasmCells: Array<ReadonlyArray<Cell>> = []
  for (const workload of workloads) wasmCells.push(await measureInterleaved(workload, configs))
  configs.forEach(([name], i) => {
    results.set(
      name,
      wasmCells.map((cells) => cells[i] ?? {}),
    )
  })
  registerFastKernels("wasm")
  await initBackend("cpu", { stockKernels: true })
  const cpuCells: Array<Cell> = []
  for (const workload of workloads) cpuCells.push(await measureStockCpu(workload))
  results.set("stock cpu", cpuCells)

  const names: ReadonlyArray<ConfigName> = ["default (native)", "fast, no native", "stock wasm", "stock cpu"]
  const rows = workloads.map((workload, i) => {
    const row: Record<string, string | number> = {
      case: workload.name,
      unit: workload.flops === undefined ? "ms" : "GFLOP/s",
    }
    for (const name of names) row[name] = cellText(workload, results.get(name)?.[i])
    row["default/stock wasm"] = speedup(results.get("default (native)")?.[i], results.get("stock wasm")?.[i])
    return row
  })

  const blas = native.addon?.blasInfo()
  console.log(`\n@ds/core bench: ${cpus().length} CPUs (${cpus()[0]?.model ?? "unknown"}), Node ${process.version}`)
  console.log(
    `wasm: ${wasm.threads} thread(s), SIMD ${wasm.simd}; native: ${blas === undefined ? `off (${native.reason})` : `${blas.config}, ${blas.threads} threads; blas: ${describeNativeBlas(native)}`}`,
  )
  printTable(rows)
  const record = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    native:
      blas === undefined ? { loaded: false, reason: native.reason } : { loaded: true, ...blas, core: native.blasCore },
    kernels: reports,
    workloads: workloads.map((workload, i) => ({
      name: workload.name,
      unit: workload.flops === undefined ? "ms" : "GFLOP/s",
      flops: workload.flops,
      results: Object.fromEntries(names.map((name) => [name, results.get(name)?.[i]])),
    })),
    table: rows,
  }
  return { table: rows, record }
}
