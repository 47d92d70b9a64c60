export * from "./errors.ts"
export * from "./backend/backend.ts"
export * from "./backend/layer.ts"
export type { FastKernelReport } from "./kernels/index.ts"
