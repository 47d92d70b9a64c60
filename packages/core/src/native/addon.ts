/**
 * Loader of the ds native addon (`native/build/Release/ds_native.node`, built from `native/src/*.c` by
 * `pnpm --filter @ds/core build:native` or the package's install hook).
 *
 * Loaded once, on first use, with `createRequire`. Missing, broken, or disabled with `DS_NATIVE=0`: the loader
 * returns no addon and one line saying why, and every caller falls back to the wasm kernels. OpenBLAS threads:
 * `DS_BLAS_THREADS` (default 2, the cores of the machines this was measured on), or `setNativeThreads`.
 *
 * Modules: the addon exports `modules`, the names of the C modules compiled in (`native/src/modules.h`). A module
 * added later declares its functions in its own interface and checks `addon.modules.includes(name)` first.
 */
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import {
  type BlasCoreReport,
  decideBlasCore,
  describeBlasCore,
  probeDefaultCore,
  readCpuFeatures,
} from "./blas-core.ts"

/** The BLAS module: row-major single-precision GEMM over Float32Arrays (wasm heap views included, no copy). */
export interface NativeBlas {
  /** C = alpha · op(A) · op(B) + beta · C with A, B, C starting at the given element offsets. Bounds-checked. */
  readonly sgemm: (
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    aOffset: number,
    lda: number,
    b: Float32Array,
    bOffset: number,
    ldb: number,
    beta: number,
    c: Float32Array,
    cOffset: number,
    ldc: number,
  ) => void
  /** The same product for each batch entry i, at offsets aOffsets[i], bOffsets[i], cOffsets[i] (equal lengths). */
  readonly sgemmBatched: (
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    aOffsets: Uint32Array | Int32Array,
    lda: number,
    b: Float32Array,
    bOffsets: Uint32Array | Int32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    cOffsets: Uint32Array | Int32Array,
    ldc: number,
  ) => void
  /**
   * y = alpha · op(A) · x + beta · y with A row-major m × n (transA: x has m entries, y n), unit strides, bounds-checked:
   * one row times a weight matrix without sgemm's packing of the matrix. Absent from addons built before it.
   */
  readonly sgemv?: (
    transA: boolean,
    m: number,
    n: number,
    alpha: number,
    a: Float32Array,
    aOffset: number,
    lda: number,
    x: Float32Array,
    xOffset: number,
    beta: number,
    y: Float32Array,
    yOffset: number,
  ) => void
  /** Sets OpenBLAS's thread count; returns the previous count. */
  readonly setThreads: (threads: number) => number
  readonly getThreads: () => number
  /** OpenBLAS build string (version, kernel set), detected core and thread count. */
  readonly blasInfo: () => { readonly config: string; readonly corename: string; readonly threads: number }
}

export interface NativeAddon extends NativeBlas {
  /** The C modules compiled into this build (`native/src/modules.h`), e.g. ["blas"]. */
  readonly modules: ReadonlyArray<string>
}

/** The outcome of loading: the addon, or why there is none (one line, for the backend report). */
export type NativeLoad =
  | { readonly addon: NativeAddon; readonly reason?: undefined; readonly blasCore?: BlasCoreReport }
  | { readonly addon?: undefined; readonly reason: string; readonly blasCore?: undefined }

/** Where the build puts the addon (the same relative path from src/native and dist/native). */
export const nativeAddonPath = fileURLToPath(new URL("../../native/build/Release/ds_native.node", import.meta.url))

/** OpenBLAS threads when DS_BLAS_THREADS is unset: the 2 cores measured in docs/compute.md §4. */
export const defaultBlasThreads = 2

let loaded: NativeLoad | undefined

const firstLine = (error: unknown): string =>
  String(error instanceof Error ? error.message : error).split("\n")[0] ?? "unknown error"

const blasThreadsFrom = (env: NodeJS.ProcessEnv): number => {
  const raw = env.DS_BLAS_THREADS
  const parsed = raw === undefined ? Number.NaN : Number.parseInt(raw, 10)
  return Number.isInteger(parsed) && parsed >= 1 ? parsed : defaultBlasThreads
}

const isAddon = (value: unknown): value is NativeAddon =>
  typeof value === "object" &&
  value !== null &&
  Array.isArray((value as { modules?: unknown }).modules) &&
  typeof (value as { sgemm?: unknown }).sgemm === "function" &&
  typeof (value as { sgemmBatched?: unknown }).sgemmBatched === "function"

/** Loads the addon at `path` under the settings in `env` (uncached; `loadNative` is the cached entry point). */
export const loadNativeAddon = (path: string = nativeAddonPath, env: NodeJS.ProcessEnv = process.env): NativeLoad => {
  if (env.DS_NATIVE === "0") return { reason: "disabled by DS_NATIVE=0" }
  if (!existsSync(path)) {
    return { reason: "addon not built (run `pnpm --filter @ds/core build:native`; needs libopenblas-dev)" }
  }
  // OpenBLAS reads OPENBLAS_CORETYPE in its load-time constructor: decide before the require (blas-core.ts).
  const decision = decideBlasCore(readCpuFeatures(), env, () => {
    const core = probeDefaultCore(path, env)
    if (core !== undefined) process.env.DS_BLAS_DEFAULT_CORE = core
    return core
  })
  if (decision.action === "set") {
    process.env.OPENBLAS_CORETYPE = decision.core
    process.env.DS_BLAS_CORE_CHOSEN = decision.core
  }
  try {
    const addon: unknown = createRequire(import.meta.url)(path)
    if (!isAddon(addon)) return { reason: `${path} is not the ds addon (no sgemm export)` }
    addon.setThreads(blasThreadsFrom(env))
    const corename = addon.blasInfo().corename
    const chosen = decision.action === "set" ? decision.core : undefined
    const verified = chosen === undefined || chosen.toLowerCase() === corename.toLowerCase()
    return {
      addon,
      blasCore: { corename, ...(chosen === undefined ? {} : { chosen }), verified, reason: decision.reason },
    }
  } catch (error) {
    return { reason: `addon failed to load: ${firstLine(error)}` }
  }
}

/** Loads the addon once (DS_NATIVE, DS_BLAS_THREADS from the environment) and returns it, or why there is none. */
export const loadNative = (): NativeLoad => {
  loaded ??= loadNativeAddon()
  return loaded
}

/** Sets OpenBLAS's thread count when the addon is loaded; returns the count in effect afterwards (0: no addon). */
export const setNativeThreads = (threads: number): number => {
  const { addon } = loadNative()
  if (addon === undefined) return 0
  addon.setThreads(Math.max(1, Math.floor(threads)))
  return addon.getThreads()
}

/** `OpenBLAS 0.3.21, core Haswell (why)` for a loaded addon; undefined without one. */
export const describeNativeBlas = (load: NativeLoad): string | undefined => {
  if (load.addon === undefined) return undefined
  const version = load.addon.blasInfo().config.split(" ").slice(0, 2).join(" ")
  return load.blasCore === undefined ? version : `${version}, ${describeBlasCore(load.blasCore)}`
}
