/**
 * Fast kernels registered over the stock tfjs kernels (docs/compute.md §2: measured gaps of tfjs 4.22 on a CPU).
 *
 * wasm: BatchMatMul and _FusedMatMul (fast transposed/batched paths; native OpenBLAS when the addon loads),
 *       GatherV2 (row copies), UnsortedSegmentSum (linear; wasm has none), Slice and SplitV (run copies inside the
 *       heap; stock reads the tensor to the host and, above rank 4, goes element by element), Tile, Concat and the
 *       broadcasting comparisons (row copies and loops on the heap, layout-copy.ts), Identity (shared data, no copy).
 * cpu:  UnsortedSegmentSum (linear; the stock one is quadratic). The cpu backend otherwise stays the stock
 *       reference.
 * all backends: gradients tfjs lacks (gradients.ts), registered as composites of tfjs ops.
 *
 * The `tensorflow` backend (tfjs-node) cannot take JS kernels: it keeps its own, and gets only the gradients
 * (`registerMissingGradients`).
 */
import { describeNativeBlas, loadNative, type NativeBlas, setNativeThreads } from "../native/addon.ts"
import { wasmBatchMatMul } from "./batch-mat-mul.ts"
import { wasmFusedMatMul } from "./fused-mat-mul.ts"
import { wasmGatherV2 } from "./gather.ts"
import { registerMissingGradients } from "./gradients.ts"
import { wasmIdentity } from "./identity.ts"
import { comparisons, wasmComparison, wasmConcat, wasmTile } from "./layout-copy.ts"
import { type FastBackendName, overriddenKernels, overrideKernel, restoreKernels } from "./registry.ts"
import { wasmSlice, wasmSplitV } from "./slice.ts"
import { unsortedSegmentSumKernel } from "./unsorted-segment-sum.ts"

export { registerMissingGradients, topKGradient } from "./gradients.ts"
export { stockKernel } from "./registry.ts"

export interface FastKernelReport {
  /** Kernel names registered over (or added to) the stock set, e.g. "BatchMatMul", "UnsortedSegmentSum". */
  readonly kernels: ReadonlyArray<string>
  /** Kernels whose gradient this project adds (or fixes), on every backend. */
  readonly gradients?: ReadonlyArray<string>
  /** Whether the native OpenBLAS addon is loaded and serving matmuls. */
  readonly native: boolean
  /** Why the native addon is not in use, when it is not. */
  readonly nativeReason?: string
  /** OpenBLAS threads, when native BLAS is in use. */
  readonly blasThreads?: number
  /** The BLAS and its core, when native BLAS is in use: `OpenBLAS 0.3.21, core Haswell (OpenBLAS's own choice …)`. */
  readonly blas?: string | undefined
}

export interface FastKernelOptions {
  /** Use the native OpenBLAS addon when it loads (default true; `DS_NATIVE=0` also turns it off). */
  readonly native?: boolean
  /** OpenBLAS threads (default `DS_BLAS_THREADS`, else 2). */
  readonly blasThreads?: number
}

/** The BLAS the wasm matmul kernels call now (read at every call, so re-registering switches it). */
let nativeBlas: NativeBlas | undefined
const currentBlas = () => nativeBlas

const registerWasm = (): void => {
  overrideKernel("BatchMatMul", "wasm", wasmBatchMatMul(currentBlas))
  overrideKernel("_FusedMatMul", "wasm", wasmFusedMatMul(currentBlas))
  overrideKernel("GatherV2", "wasm", wasmGatherV2)
  overrideKernel("UnsortedSegmentSum", "wasm", unsortedSegmentSumKernel("wasm"))
  overrideKernel("Slice", "wasm", wasmSlice)
  overrideKernel("SplitV", "wasm", wasmSplitV)
  overrideKernel("Identity", "wasm", wasmIdentity)
  overrideKernel("Tile", "wasm", wasmTile)
  overrideKernel("Concat", "wasm", wasmConcat)
  for (const op of comparisons) overrideKernel(op, "wasm", wasmComparison(op))
}

const nativeFor = (backendName: FastBackendName, options: FastKernelOptions) => {
  if (backendName !== "wasm") return { reason: "native BLAS serves the wasm backend only" }
  if (options.native === false) return { reason: "turned off by the caller" }
  return loadNative()
}

/** Registers the project's kernels over the stock ones of `backendName`. Idempotent; call again to switch native. */
export const registerFastKernels = (
  backendName: FastBackendName,
  options: FastKernelOptions = {},
): FastKernelReport => {
  const gradients = registerMissingGradients()
  const native = nativeFor(backendName, options)
  if (backendName === "wasm") {
    nativeBlas = native.addon
    registerWasm()
  } else {
    overrideKernel("UnsortedSegmentSum", "cpu", unsortedSegmentSumKernel("cpu"))
  }
  const kernels = overriddenKernels(backendName)
  if (native.addon === undefined) return { kernels, gradients, native: false, nativeReason: native.reason }
  const blasThreads =
    options.blasThreads === undefined ? native.addon.getThreads() : setNativeThreads(options.blasThreads)
  return { kernels, gradients, native: true, blasThreads, blas: describeNativeBlas(native) }
}

/** Puts the stock kernels back (benchmarks and reference tests compare both in one run). Gradients stay. */
export const restoreStockKernels = (backendName: FastBackendName): void => {
  restoreKernels(backendName)
  if (backendName === "wasm") nativeBlas = undefined
}
