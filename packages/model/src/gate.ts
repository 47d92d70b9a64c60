/**
 * DeepSeekMoE router (docs/model.md §3, reference `Gate.forward`):
 *
 *   s   = sigmoid(x Wgᵀ)  or  softmax(x Wgᵀ)            [N, E]   unbiased affinities (score_func)
 *   s_b = s + b                                           bias b: [E], used ONLY to choose experts
 *   groups (G > 1): view s_b as [N, G, E/G]; group score = sum of the group's top-2 s_b;
 *                   keep the n_limited_groups best groups, set s_b of the others to −∞
 *   E_sel = top-K experts of s_b                          [N, K]
 *   g     = s[E_sel] / Σ_{E_sel} s   (sigmoid only; softmax keeps the raw probabilities)
 *   g    *= route_scale
 *
 * The weights are returned dense, `[N, E]` with zeros off the selected set (`gate.dense_weights` of the golden
 * data), computed as `s ⊙ mask`: differentiable in the router weight, while the selection itself is not.
 *
 * Keep Routing (docs/grpo.md §6): with `forced` ids the selection step is skipped and the given experts are used; the weights
 * are still recomputed from the current router, so gradients reach it. Id −1 marks an empty slot (padding); a
 * token whose slots are all −1 gets zero weights.
 *
 * Deviation: the reference creates the bias only at dim 7168 and scores groups by their max without it; here the
 * bias always exists (zeros when untrained), so groups are always scored by the top-2 sum, as in the golden data.
 */
import { linear, ShapeError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import type { ModelConfig } from "./config.ts"

export type GateConfig = Pick<
  ModelConfig,
  "score_func" | "route_scale" | "n_routed_experts" | "n_activated_experts" | "n_expert_groups" | "n_limited_groups"
>

export interface GateWeights {
  /** `gate.weight`: [E, dim]. */
  readonly weight: tf.Tensor
  /** `gate.bias` (HF `e_score_correction_bias`): [E]. */
  readonly bias: tf.Tensor
}

export interface GateOutput {
  /** Unbiased affinities s: [N, E] (on the tape when the router weight is). */
  readonly scores: tf.Tensor2D
  /** Routing weights, zero off the selected experts: [N, E]. */
  readonly denseWeights: tf.Tensor2D
  /** Selected expert ids per token, row-major [N, K]; −1 for an empty slot. Ordered by biased score. */
  readonly indices: Int32Array
}

/** Top-K expert ids per token from biased, group-limited scores. biased: [N, E] -> [N, K] ids (int32). */
const selectExperts = (biased: tf.Tensor2D, config: GateConfig): Int32Array =>
  tf.tidy(() => {
    const [n, e] = biased.shape
    const groups = config.n_expert_groups
    let candidates: tf.Tensor2D = biased
    if (groups > 1) {
      const perGroup = e / groups
      const grouped = biased.reshape([n, groups, perGroup])
      const groupScores = tf.topk(grouped, Math.min(2, perGroup)).values.sum(-1) // [N, G]
      const keptGroups = tf.topk(groupScores, config.n_limited_groups).indices // [N, n_limited_groups]
      const groupMask = tf.oneHot(keptGroups, groups).sum(1).greater(0) // [N, G] bool
      const expertMask = groupMask.reshape([n, groups, 1]).tile([1, 1, perGroup]).reshape([n, e])
      candidates = tf.where(expertMask, biased, tf.fill([n, e], Number.NEGATIVE_INFINITY)) as tf.Tensor2D
    }
    return tf.topk(candidates, config.n_activated_experts).indices.dataSync() as Int32Array
  })

/** 0/1 mask [N, E] of the chosen experts, plus 1 in `empty` for tokens with no expert (to keep sums non-zero). */
const selectionMask = (
  indices: Int32Array,
  n: number,
  k: number,
  e: number,
): { mask: Float32Array; empty: Float32Array } => {
  const mask = new Float32Array(n * e)
  const empty = new Float32Array(n).fill(1)
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < k; j++) {
      const id = indices[t * k + j] as number
      if (id < 0) continue
      if (id >= e)
        throw new ShapeError({ argument: "forced expert ids", expected: `ids in [-1, ${e})`, actual: String(id) })
      mask[t * e + id] = 1
      empty[t] = 0
    }
  }
  return { mask, empty }
}

/**
 * Routes tokens x: [N, dim]. `forced` ([N·K] ids, −1 = none) replaces the selection (Keep Routing).
 * The caller owns (and disposes) `scores` and `denseWeights`.
 */
export const routeTokens = (x: tf.Tensor2D, gate: GateWeights, config: GateConfig, forced?: Int32Array): GateOutput => {
  const [n, dim] = x.shape
  const e = config.n_routed_experts
  const k = config.n_activated_experts
  if (gate.weight.rank !== 2 || gate.weight.shape[0] !== e || gate.weight.shape[1] !== dim)
    throw new ShapeError({ argument: "gate.weight", expected: `[${e}, ${dim}]`, actual: `[${gate.weight.shape}]` })
  if (forced !== undefined && forced.length !== n * k)
    throw new ShapeError({
      argument: "forced expert ids",
      expected: `${n * k} ids (N x K)`,
      actual: `${forced.length}`,
    })
  const scores = tf.tidy(() => {
    const logits = linear(x, gate.weight) as tf.Tensor2D
    return config.score_func === "softmax" ? tf.softmax(logits) : tf.sigmoid(logits)
  }) as tf.Tensor2D
  const indices = forced ?? tf.tidy(() => selectExperts(tf.add(scores, gate.bias) as tf.Tensor2D, config))
  const { mask, empty } = selectionMask(indices, n, k, e)
  const denseWeights = tf.tidy(() => {
    const picked = tf.mul(scores, tf.tensor2d(mask, [n, e]))
    const normalised =
      config.score_func === "sigmoid"
        ? tf.div(picked, tf.add(picked.sum(-1, true), tf.tensor2d(empty, [n, 1])))
        : picked
    return tf.mul(normalised, config.route_scale)
  }) as tf.Tensor2D
  return { scores, denseWeights, indices: forced === undefined ? indices : Int32Array.from(forced) }
}
