/**
 * AdamW (Loshchilov & Hutter, decoupled weight decay) with global-norm gradient clipping, over named tfjs
 * variables. The state (step, first and second moments) is plain named arrays, so a checkpoint can save it and a
 * resumed run continues the same trajectory.
 *
 *   g  ← g · min(1, c / ‖g‖₂)                     (clipping over all parameters together; c = maxGradNorm)
 *   m  ← β1 m + (1 − β1) g ;   v ← β2 v + (1 − β2) g²
 *   m̂ = m / (1 − β1^t) ;       v̂ = v / (1 − β2^t)
 *   θ  ← θ − lr · ( m̂ / (√v̂ + ε) + λ θ )         (λ only on matrices: norm weights and biases are not decayed)
 *
 * Defaults follow DeepSeek-V3 pre-training (§4.2 of its report): β1 = 0.9, β2 = 0.95, weight decay 0.1, clip 1.0.
 *
 * The update is one fused loop per parameter (read θ and g once, write θ once) instead of ~16 small tensor ops per
 * parameter: at the sizes this package trains on a CPU the per-op overhead of the tensor backend dominates the
 * optimizer step. The loop reads θ and g where they live (@ds/core `computeOnBackend`: zero-copy views of the wasm
 * heap or the cpu arrays, docs/compute.md §6), so a step reads no parameter or gradient back to the host; the new θ
 * is a fresh tensor that the variable `assign`s. Moments are Float32Array; arithmetic is float64 rounded to float32.
 */
import { computeOnBackend, readOnBackend } from "@ds/core"
import type * as tf from "@tensorflow/tfjs"

export interface AdamWConfig {
  readonly beta1: number
  readonly beta2: number
  readonly epsilon: number
  readonly weightDecay: number
  /** Global gradient-norm clip; Infinity = off. */
  readonly maxGradNorm: number
}

export const defaultAdamW: AdamWConfig = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1, maxGradNorm: 1 }

export interface AdamWState {
  /** Updates applied so far. */
  step: number
  /** First moments by parameter name (same element order as the parameter). */
  readonly m: Map<string, Float32Array>
  /** Second moments by parameter name. */
  readonly v: Map<string, Float32Array>
  /** Shapes by parameter name (for saving the moments as tensors). */
  readonly shapes: Map<string, ReadonlyArray<number>>
}

/** Zero moments for every parameter of `params`. */
export const initAdamW = (params: ReadonlyMap<string, tf.Variable>): AdamWState => {
  const m = new Map<string, Float32Array>()
  const v = new Map<string, Float32Array>()
  const shapes = new Map<string, ReadonlyArray<number>>()
  for (const [name, p] of params) {
    m.set(name, new Float32Array(p.size))
    v.set(name, new Float32Array(p.size))
    shapes.set(name, [...p.shape])
  }
  return { step: 0, m, v, shapes }
}

/** ‖g‖₂ over all gradients together. */
export const globalNorm = (grads: ReadonlyMap<string, tf.Tensor>): number =>
  Math.sqrt(
    readOnBackend([...grads.values()], (views) => {
      let total = 0
      for (const g of views) for (let i = 0; i < g.length; i++) total += (g[i] as number) * (g[i] as number)
      return total
    }),
  )

const decays = (p: tf.Tensor): boolean => p.rank >= 2

/**
 * One AdamW update of `params` from `grads` (names must match; parameters without a gradient, or without a
 * moment in `state`, are left alone). Returns the gradient norm before clipping.
 */
export const adamWStep = (
  params: ReadonlyMap<string, tf.Variable>,
  grads: ReadonlyMap<string, tf.Tensor>,
  state: AdamWState,
  learningRate: number,
  config: AdamWConfig = defaultAdamW,
): number => {
  const norm = globalNorm(grads)
  const clip = Number.isFinite(config.maxGradNorm) && norm > config.maxGradNorm ? config.maxGradNorm / norm : 1
  state.step += 1
  const { beta1, beta2, epsilon } = config
  const correction1 = 1 - beta1 ** state.step
  const correction2 = 1 - beta2 ** state.step
  for (const [name, gradient] of grads) {
    const p = params.get(name)
    const m = state.m.get(name)
    const v = state.v.get(name)
    if (p === undefined || m === undefined || v === undefined) continue
    const decay = decays(p) ? config.weightDecay : 0
    const theta = computeOnBackend([p, gradient], p.shape, ([before, g], after) => {
      const x = before as Float32Array
      const d = g as Float32Array
      for (let i = 0; i < after.length; i++) {
        const gi = (d[i] as number) * clip
        const mi = beta1 * (m[i] as number) + (1 - beta1) * gi
        const vi = beta2 * (v[i] as number) + (1 - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        const update = mi / correction1 / (Math.sqrt(vi / correction2) + epsilon) + decay * (x[i] as number)
        after[i] = (x[i] as number) - learningRate * update
      }
    })
    p.assign(theta)
    theta.dispose()
  }
  return norm
}
