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
 * The update runs on the host, one fused loop per parameter (read θ and g once, write θ once), instead of ~16
 * small tensor ops per parameter: at the sizes this package trains on a CPU the per-op overhead of the tensor
 * backend dominates the optimizer step. Moments are Float32Array; arithmetic is float64 rounded to float32.
 */
import * as tf from "@tensorflow/tfjs"

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
export const globalNorm = (grads: ReadonlyMap<string, tf.Tensor>): number => {
  let total = 0
  for (const g of grads.values()) for (const x of g.dataSync() as Float32Array) total += x * x
  return Math.sqrt(total)
}

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
    const g = gradient.dataSync() as Float32Array
    const theta = Float32Array.from(p.dataSync() as Float32Array)
    const decay = decays(p) ? config.weightDecay : 0
    for (let i = 0; i < theta.length; i++) {
      const gi = (g[i] as number) * clip
      const mi = beta1 * (m[i] as number) + (1 - beta1) * gi
      const vi = beta2 * (v[i] as number) + (1 - beta2) * gi * gi
      m[i] = mi
      v[i] = vi
      const update = mi / correction1 / (Math.sqrt(vi / correction2) + epsilon) + decay * (theta[i] as number)
      theta[i] = (theta[i] as number) - learningRate * update
    }
    tf.tidy(() => p.assign(tf.tensor(theta, p.shape, "float32")))
  }
  return norm
}
