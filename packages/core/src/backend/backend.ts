/**
 * Choosing and starting the tensor backend.
 *
 *   DS_BACKEND = auto | tensorflow | wasm | cpu
 *
 * - tensorflow: `@tensorflow/tfjs-node-gpu` (CUDA) or `@tensorflow/tfjs-node`, optional peers loaded by a guarded
 *   dynamic import; absent or broken -> BackendUnavailableError with install instructions.
 * - wasm (the default on a CPU): tfjs-backend-wasm (XNNPACK, SIMD) with this project's fast kernels over the stock
 *   ones, and the native OpenBLAS addon for matmul when it loads.
 * - cpu: the stock pure-JS backend, a reference for tests on tiny shapes (~100x slower).
 * - auto: tensorflow when it loads, else wasm; the choice is logged once.
 */
import * as tf from "@tensorflow/tfjs"
import { BackendUnavailableError } from "../errors.ts"
import {
  type FastKernelOptions,
  type FastKernelReport,
  registerFastKernels,
  registerMissingGradients,
  restoreStockKernels,
} from "../kernels/index.ts"

export const backendChoices = ["auto", "tensorflow", "wasm", "cpu"] as const
export type BackendChoice = (typeof backendChoices)[number]
export type BackendName = "tensorflow" | "wasm" | "cpu"

export interface BackendInfo {
  /** The tfjs backend in use. */
  readonly name: BackendName
  /** Which package provides it, e.g. "@tensorflow/tfjs-backend-wasm" or "@tensorflow/tfjs-node-gpu". */
  readonly provider: string
  /** Worker threads the backend computes on (1 for wasm unless threads were opted into). */
  readonly threads: number
  /** Whether wasm SIMD is in use (false for backends that do not use wasm). */
  readonly simd: boolean
  /** The project's kernels registered over the stock ones, and whether native BLAS serves matmuls. */
  readonly fastKernels: FastKernelReport
}

export interface BackendOptions extends FastKernelOptions {
  /** Leave the stock kernels in place (benchmarks and reference tests). Default false. */
  readonly stockKernels?: boolean
}

const tensorflowHint = [
  "Install the GPU backend next to @ds/core:  pnpm add @tensorflow/tfjs-node-gpu@4.22.0",
  "(needs CUDA 11.2 and cuDNN 8.1; for CPU only: pnpm add @tensorflow/tfjs-node@4.22.0).",
  "Its install script downloads libtensorflow 2.9.1; behind a firewall point it at a mirror with",
  "TFJS_NODE_BASE_URI / TFJS_NODE_CDN_STORAGE or npm_config_tfjs_binding_binary_host_mirror,",
  "then allow its build script (pnpm approve-builds). Or use DS_BACKEND=wasm, which needs nothing.",
].join("\n")

/** Loads tfjs-node-gpu, else tfjs-node; throws BackendUnavailableError when neither loads. */
const loadTensorflow = async (): Promise<string> => {
  const reasons: Array<string> = []
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      await import(/* @vite-ignore */ pkg)
      if (tf.findBackend("tensorflow") !== null || tf.findBackendFactory("tensorflow") !== null) return pkg
      reasons.push(`${pkg} loaded but registered no "tensorflow" backend`)
    } catch (error) {
      reasons.push(`${pkg}: ${firstLine(error)}`)
    }
  }
  throw new BackendUnavailableError({ backend: "tensorflow", reason: reasons.join("; "), hint: tensorflowHint })
}

const firstLine = (error: unknown): string =>
  String(error instanceof Error ? error.message : error).split("\n")[0] ?? ""

let wasmModule: Promise<typeof import("@tensorflow/tfjs-backend-wasm")> | undefined
const loadWasm = () => {
  wasmModule ??= import("@tensorflow/tfjs-backend-wasm")
  return wasmModule
}

const start = async (name: BackendName): Promise<void> => {
  const ok = await tf.setBackend(name)
  if (!ok)
    throw new BackendUnavailableError({
      backend: name,
      reason: "tfjs could not initialise it",
      hint: "Try DS_BACKEND=cpu.",
    })
  await tf.ready()
  // The stock cpu backend prints a banner urging tfjs-node on first use; backend selection already handles that.
  if (name === "cpu") Object.assign(tf.backend(), { firstUse: false })
}

/**
 * Starts the chosen backend and registers the fast kernels over it. Safe to call again (switches backend).
 * Throws BackendUnavailableError when `tensorflow` is asked for and cannot load.
 */
export const initBackend = async (
  choice: BackendChoice = "auto",
  options: BackendOptions = {},
): Promise<BackendInfo> => {
  if (choice === "tensorflow" || choice === "auto") {
    try {
      const provider = await loadTensorflow()
      await start("tensorflow")
      const gradients = registerMissingGradients()
      const fastKernels = { kernels: [], gradients, native: false, nativeReason: "JS kernels do not run on tensorflow" }
      return { name: "tensorflow", provider, threads: 0, simd: false, fastKernels }
    } catch (error) {
      if (choice === "tensorflow") throw error
    }
  }
  const name: "wasm" | "cpu" = choice === "cpu" ? "cpu" : "wasm"
  const wasm = name === "wasm" ? await loadWasm() : undefined
  await start(name)
  if (options.stockKernels === true) restoreStockKernels(name)
  const fastKernels = options.stockKernels === true ? noKernels : registerFastKernels(name, options)
  return {
    name,
    provider: name === "wasm" ? "@tensorflow/tfjs-backend-wasm" : "@tensorflow/tfjs-backend-cpu",
    threads: wasm?.getThreadsCount() ?? 1,
    simd: name === "wasm" && (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) === true,
    fastKernels,
  }
}

const noKernels: FastKernelReport = { kernels: [], native: false, nativeReason: "stock kernels requested" }

/** One line for logs: `wasm (SIMD, 1 thread) + fast kernels [BatchMatMul, …] + native OpenBLAS`. */
export const describeBackend = (info: BackendInfo): string => {
  const parts = [`${info.name} via ${info.provider}`]
  if (info.name !== "tensorflow")
    parts.push(`${info.threads} thread${info.threads === 1 ? "" : "s"}${info.simd ? ", SIMD" : ""}`)
  parts.push(
    info.fastKernels.kernels.length > 0 ? `fast kernels: ${info.fastKernels.kernels.join(", ")}` : "stock kernels",
  )
  parts.push(
    info.fastKernels.native
      ? `native OpenBLAS matmul (blas: ${info.fastKernels.blas ?? "OpenBLAS"})`
      : `no native BLAS (${info.fastKernels.nativeReason ?? "not loaded"})`,
  )
  return parts.join("; ")
}
