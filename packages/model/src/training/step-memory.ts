/**
 * Memory of one training step, checked before the step runs (docs/model.md §8). The wasm backend keeps every
 * tensor in one 32-bit WebAssembly heap that cannot grow past 4 GiB − 64 KiB; a step whose activations do not fit
 * ends in emscripten's `Aborted()`, which kills the backend. So the trainer estimates the step first and fails with
 * `StepMemoryError`, which says what to lower.
 *
 * Estimate, for a micro-batch of B rows of T positions, in float32 values per layer and position:
 *
 *   per layer and position ≈ α · dim                              activations and gradients of every projection,
 *                                                                 the MoE and the gathered DSA rows
 *                          + β · (n_heads + index_n_heads) · T    [T, T] scores, masks and probabilities
 *   bytes ≈ 4 · n_layers · B · T · (per layer and position)  +  16 · parameters   (weights, gradients, 2 moments)
 *
 * α = 240 and β = 20 are a least-squares fit, rounded up, of the wasm heap's size after one step of the small
 * preset on chat data (B×T → GiB: 32×36 → 1.26, 8×64 → 0.60, 4×128 → 0.69, 12×128 → 1.84, 4×256 → 1.86; fit within
 * ±10 %); the tiny preset's 32×64 step, not in the fit, is estimated at 0.55 GiB and measured at 0.60 GiB. 32 rows of
 * 256 positions, the batch that chat data padded to max_seq_len made, need ≈ 15 GiB. Heap growth overshoots by up
 * to 20 %, so the estimate is a size, not a bound to the byte.
 */
import { Schema } from "effect"
import type { ModelConfig } from "../config.ts"

/** The largest size the wasm backend's heap can grow to (emscripten's `getHeapMax` for 32-bit wasm). */
export const wasmHeapLimitBytes = 4_294_901_760

const perDim = 240
const perScore = 20

/** Estimated peak bytes of one training step over a [batch, length] micro-batch (see the file comment). */
export const estimateStepBytes = (config: ModelConfig, parameters: number, batch: number, length: number): number => {
  const perPosition = perDim * config.dim + perScore * (config.n_heads + config.index_n_heads) * length
  return 4 * config.n_layers * batch * length * perPosition + 16 * parameters
}

/** A training step would not fit in the backend's memory; the message says what to lower. */
export class StepMemoryError extends Schema.TaggedError<StepMemoryError>()("StepMemoryError", {
  backend: Schema.String,
  batch: Schema.Number,
  length: Schema.Number,
  neededBytes: Schema.Number,
  limitBytes: Schema.Number,
  /** The most rows of this length that fit (0 when not even one does). */
  fittingBatch: Schema.Number,
}) {
  override get message(): string {
    const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(1)
    const lower =
      this.fittingBatch > 0
        ? `lower --batch-size to ${this.fittingBatch} or less, or use shorter examples`
        : "use shorter examples (maxLength) or a smaller preset"
    return `a training step of ${this.batch} rows × ${this.length} tokens needs about ${gib(this.neededBytes)} GiB, more than the ${this.backend} backend's ${gib(this.limitBytes)} GiB: ${lower}`
  }
}

/**
 * The StepMemoryError of a [batch, length] micro-batch that would not fit under `limitBytes` (the wasm heap's
 * ceiling by default), or undefined when it fits.
 */
export const stepMemoryError = (
  config: ModelConfig,
  parameters: number,
  batch: number,
  length: number,
  backend: string,
  limitBytes: number = wasmHeapLimitBytes,
): StepMemoryError | undefined => {
  const neededBytes = estimateStepBytes(config, parameters, batch, length)
  if (neededBytes <= limitBytes) return undefined
  let fittingBatch = 0
  while (fittingBatch < batch && estimateStepBytes(config, parameters, fittingBatch + 1, length) <= limitBytes)
    fittingBatch++
  return new StepMemoryError({ backend, batch, length, neededBytes, limitBytes, fittingBatch })
}
