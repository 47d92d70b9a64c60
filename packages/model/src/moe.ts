/**
 * DeepSeekMoE layer (docs/model.md §3, reference `MoE.forward`):
 *
 *   y_t = Σ_{e ∈ E_sel(t)} g_{t,e} · Expert_e(x_t) + Shared(x_t)        Expert_e, Shared: SwiGLU (ffn.ts)
 *
 * Dispatch is grouped by expert, with no loop over tokens: the (token, slot) pairs are counting-sorted by expert
 * id, the token rows gathered once into expert order [M, dim], each expert runs on its contiguous segment, the
 * outputs are scaled by their routing weight and gathered back to (token, slot) order [N, K, dim] — an empty slot
 * (id −1) points at an extra zero row — and summed over the K slots.
 *
 * Training statistics (docs/model.md §4, DeepSeek-V3 §2.1.2): per-expert token counts (for the aux-loss-free bias update) and
 * the sequence-wise balance loss
 *
 *   L_bal = α · mean_b Σ_e f_{b,e} P_{b,e},   f_{b,e} = E/(K·T_b) Σ_t 1[e ∈ E_sel(t)],   P_{b,e} = 1/T_b Σ_t s'_{t,e}
 *
 * where s' is the unbiased affinity normalised over all experts and T_b counts the sequence's non-padding tokens.
 *
 * Deviation: the reference sums expert outputs in expert order; here they are summed in slot order (float32
 * rounding differences only).
 */
import { ShapeError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { type SwiGluWeights, swiGlu } from "./ffn.ts"
import { type GateConfig, type GateWeights, routeTokens } from "./gate.ts"

export interface MoeWeights {
  readonly gate: GateWeights
  /** Routed experts, index = expert id. */
  readonly experts: ReadonlyArray<SwiGluWeights>
  /** The shared expert (absent when n_shared_experts = 0). */
  readonly shared?: SwiGluWeights
}

export interface MoeOptions {
  /** Keep Routing: forced expert ids [N·K] (−1 = empty slot), N = B·T row-major. */
  readonly forced?: Int32Array
  /** 1 for real tokens, 0 for padding, [B·T]. Padding tokens are routed to no expert. Default: all real. */
  readonly valid?: Float32Array
  /** Balance-loss weight α; when set, `balanceLoss` is returned (on the tape). */
  readonly balanceAlpha?: number
}

export interface MoeOutput {
  /** [B, T, dim]. */
  readonly output: tf.Tensor
  /** Chosen expert ids [N·K], −1 for padding tokens. */
  readonly indices: Int32Array
  /** Routing weights [N, E], zero off the chosen experts. */
  readonly denseWeights: tf.Tensor2D
  /** Tokens routed to each expert, [E]. */
  readonly expertLoad: Int32Array
  /** α · sequence-wise balance loss (scalar), when `balanceAlpha` was given. */
  readonly balanceLoss?: tf.Scalar
}

/** Counting sort of (token, slot) pairs by expert: the dispatch plan shared by forward and gather-back. */
export interface DispatchPlan {
  /** Token of each routed pair, in expert order [M]. */
  readonly tokenOrder: Int32Array
  /** Flat index t·E + e of each pair's routing weight, in expert order [M]. */
  readonly weightIndex: Int32Array
  /** Segment start of each expert in expert order, [E + 1]. */
  readonly offsets: Int32Array
  /** For each (token, slot), its row in expert order, or M for an empty slot [N·K]. */
  readonly slotRow: Int32Array
}

export const planDispatch = (indices: Int32Array, n: number, k: number, e: number): DispatchPlan => {
  const counts = new Int32Array(e + 1)
  for (const id of indices) if (id >= 0) counts[id + 1] = (counts[id + 1] as number) + 1
  const offsets = new Int32Array(e + 1)
  for (let i = 1; i <= e; i++) offsets[i] = (offsets[i - 1] as number) + (counts[i] as number)
  const m = offsets[e] as number
  const cursor = offsets.slice(0, e)
  const tokenOrder = new Int32Array(m)
  const weightIndex = new Int32Array(m)
  const slotRow = new Int32Array(n * k).fill(m)
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < k; j++) {
      const id = indices[t * k + j] as number
      if (id < 0) continue
      const row = cursor[id] as number
      cursor[id] = row + 1
      tokenOrder[row] = t
      weightIndex[row] = t * e + id
      slotRow[t * k + j] = row
    }
  }
  return { tokenOrder, weightIndex, offsets, slotRow }
}

/** Routed part Σ g·Expert(x): x [N, dim] -> [N, dim]. */
const routedExperts = (
  x: tf.Tensor2D,
  denseWeights: tf.Tensor2D,
  plan: DispatchPlan,
  experts: ReadonlyArray<SwiGluWeights>,
  k: number,
): tf.Tensor =>
  tf.tidy(() => {
    const [n, dim] = x.shape
    const m = plan.tokenOrder.length
    if (m === 0) return tf.zeros([n, dim])
    const sorted = tf.gather(x, tf.tensor1d(plan.tokenOrder, "int32")) // [M, dim]
    const segments: Array<tf.Tensor> = []
    for (let e = 0; e < experts.length; e++) {
      const start = plan.offsets[e] as number
      const size = (plan.offsets[e + 1] as number) - start
      if (size > 0) segments.push(swiGlu(sorted.slice([start, 0], [size, dim]), experts[e] as SwiGluWeights))
    }
    const outputs = segments.length === 1 ? (segments[0] as tf.Tensor) : tf.concat(segments, 0) // [M, dim]
    const weights = tf.gather(denseWeights.reshape([-1]), tf.tensor1d(plan.weightIndex, "int32")) // [M]
    const scaled = tf.concat([tf.mul(outputs, weights.reshape([m, 1])), tf.zeros([1, dim])], 0) // [M + 1, dim]
    return tf.gather(scaled, tf.tensor1d(plan.slotRow, "int32")).reshape([n, k, dim]).sum(1)
  })

/** α · mean_b Σ_e f_{b,e} P_{b,e} (see header). scores: [N, E] on the tape. */
const sequenceBalanceLoss = (
  scores: tf.Tensor2D,
  indices: Int32Array,
  valid: Float32Array,
  batch: number,
  seqLen: number,
  k: number,
  alpha: number,
): tf.Scalar => {
  const e = scores.shape[1]
  const f = new Float32Array(batch * e)
  const inverseLength = new Float32Array(batch)
  for (let b = 0; b < batch; b++) {
    let length = 0
    for (let t = 0; t < seqLen; t++) length += valid[b * seqLen + t] as number
    inverseLength[b] = length > 0 ? 1 / length : 0
    for (let t = 0; t < seqLen; t++) {
      for (let j = 0; j < k; j++) {
        const id = indices[(b * seqLen + t) * k + j] as number
        if (id >= 0) f[b * e + id] = (f[b * e + id] as number) + (e / k) * (inverseLength[b] as number)
      }
    }
  }
  return tf.tidy(() => {
    const normalised = tf.div(scores, scores.sum(-1, true)).reshape([batch, seqLen, e])
    const masked = tf.mul(normalised, tf.tensor3d(valid, [batch, seqLen, 1]))
    const p = tf.mul(masked.sum(1), tf.tensor2d(inverseLength, [batch, 1])) // [B, E]
    return tf.mul(tf.sum(tf.mul(p, tf.tensor2d(f, [batch, e]))), alpha / batch) as tf.Scalar
  })
}

/** DeepSeekMoE over x: [B, T, dim]. The caller disposes `output`, `denseWeights` and `balanceLoss`. */
export const moe = (x: tf.Tensor3D, weights: MoeWeights, config: GateConfig, options: MoeOptions = {}): MoeOutput => {
  const [batch, seqLen, dim] = x.shape
  const n = batch * seqLen
  const k = config.n_activated_experts
  const e = config.n_routed_experts
  if (weights.experts.length !== e)
    throw new ShapeError({ argument: "experts", expected: `${e} experts`, actual: `${weights.experts.length}` })
  const valid = options.valid ?? new Float32Array(n).fill(1)
  if (valid.length !== n)
    throw new ShapeError({ argument: "valid", expected: `${n} flags (B x T)`, actual: `${valid.length}` })
  const flat = x.reshape([n, dim]) as tf.Tensor2D
  const gate = routeTokens(flat, weights.gate, config, options.forced)
  const indices = gate.indices
  for (let t = 0; t < n; t++) if ((valid[t] as number) <= 0) indices.fill(-1, t * k, (t + 1) * k)
  // Padding tokens take no expert: zero their weights (their forced ids, if any, are ignored too).
  const hasPadding = valid.some((v) => v <= 0)
  const denseWeights = hasPadding
    ? tf.tidy(() => tf.mul(gate.denseWeights, tf.tensor2d(valid, [n, 1])) as tf.Tensor2D)
    : gate.denseWeights
  if (hasPadding) gate.denseWeights.dispose()
  const plan = planDispatch(indices, n, k, e)
  const expertLoad = new Int32Array(e)
  for (let i = 0; i < e; i++) expertLoad[i] = (plan.offsets[i + 1] as number) - (plan.offsets[i] as number)
  const output = tf.tidy(() => {
    const routed = routedExperts(flat, denseWeights, plan, weights.experts, k)
    const total = weights.shared === undefined ? routed : tf.add(routed, swiGlu(flat, weights.shared))
    return total.reshape([batch, seqLen, dim])
  })
  const balanceLoss =
    options.balanceAlpha === undefined
      ? undefined
      : sequenceBalanceLoss(gate.scores, indices, valid, batch, seqLen, k, options.balanceAlpha)
  gate.scores.dispose()
  flat.dispose()
  return { output, indices, denseWeights, expertLoad, ...(balanceLoss === undefined ? {} : { balanceLoss }) }
}
