export * from "./backend/backend.ts"
export * from "./backend/layer.ts"
export { type KernelBenchmarkResult, runKernelBenchmark } from "./bench/kernel-bench.ts"
export * from "./bench/timing.ts"
export * from "./errors.ts"
export * from "./jsonl/index.ts"
export {
  type FastKernelOptions,
  type FastKernelReport,
  registerFastKernels,
  registerMissingGradients,
  restoreStockKernels,
  stockKernel,
  topKGradient,
} from "./kernels/index.ts"
export { computeOnBackend, readOnBackend } from "./kernels/on-backend.ts"
export { writeFileAtomicSync } from "./metrics/atomic-write.ts"
export * from "./metrics/events.ts"
export * from "./metrics/line-chart.ts"
export * from "./metrics/metrics-file.ts"
export * from "./metrics/plot.ts"
export * from "./metrics/service.ts"
export * from "./metrics/smoothing.ts"
export * from "./metrics/ticks.ts"
export {
  describeNativeBlas,
  loadNative,
  loadNativeAddon,
  type NativeAddon,
  type NativeBlas,
  type NativeLoad,
  nativeAddonPath,
  setNativeThreads,
} from "./native/addon.ts"
export * from "./native/attention.ts"
export * from "./native/blas-core.ts"
export { formatDuration, renderBar } from "./progress/bar.ts"
export * from "./progress/progress.ts"
export * from "./rng/philox.ts"
export * from "./rng/rng.ts"
export * from "./rng/tensor.ts"
export * from "./safetensors/index.ts"
export { decodeConfig, decodeConfigSync, withDefault } from "./schema/config-schema.ts"
export * from "./tensor/index.ts"
