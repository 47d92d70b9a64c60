/**
 * Fast kernels registered over the stock tfjs kernels (placeholder until the kernel module lands).
 */
export interface FastKernelReport {
  /** Kernel names registered over (or added to) the stock set, e.g. "BatchMatMul", "UnsortedSegmentSum". */
  readonly kernels: ReadonlyArray<string>
  /** Whether the native OpenBLAS addon is loaded and serving matmuls. */
  readonly native: boolean
  /** Why the native addon is not in use, when it is not. */
  readonly nativeReason?: string
}

/** Registers the project's kernels over the stock ones of `backendName`. Idempotent. */
export const registerFastKernels = (_backendName: "wasm" | "cpu"): FastKernelReport => ({
  kernels: [],
  native: false,
  nativeReason: "fast kernels not registered yet",
})

/** Puts the stock kernels back (benchmarks compare both in one run). */
export const restoreStockKernels = (_backendName: "wasm" | "cpu"): void => {}
