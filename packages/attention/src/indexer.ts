/**
 * Lightning indexer (docs/attention.md §3; reference `Indexer.forward` with the "indexer RoPE is not interleaved"
 * fix, tooling/fixtures/golden/README.md).
 *
 *   I[t, s] = Σ_j w[t, j] · ReLU(q[t, j] · k[s])          w = weights_proj(x) · H_I^-½ · d_I^-½
 *
 *   q = qr · wq_bᵀ → [B, T, H_I, d_I]   (qr: the MLA query latent after q_norm); rope part FIRST:
 *       q = [RoPE_half-split(q[..., :R]) ; q[..., R:]]
 *   k = LayerNorm(x · wkᵀ; k_norm.weight, k_norm.bias) → [B, T, d_I], one key per token shared by all heads;
 *       k = [RoPE_half-split(k[..., :R]) ; k[..., R:]]
 *
 * Deviations (float32, as the golden reference was run): no Hadamard rotation and no FP8 quantisation. The
 * rotation H/√d_I is orthonormal and applied to both q and k, so (Hq)·(Hk) = q·k and the scores are unchanged
 * up to float rounding; it only exists to spread outliers before FP8. Without FP8 the q-scale of the reference
 * is 1, which leaves exactly the head weight above.
 */
import { dimOf, expectShape, linear } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { type AttentionConfig, indexerWeightScale } from "./config.ts"
import { fusedAttentionKernels } from "./fused.ts"
import { layerNorm } from "./norms.ts"
import { applyRope, type RopeTable } from "./rope.ts"
import type { IndexerWeights } from "./weights.ts"

/** Ropes the first R dims of the last axis (half-split pairs) and keeps the rest: the indexer's layout. */
const ropeLeadingDims = <T extends tf.Tensor3D | tf.Tensor4D>(x: T, rope: RopeTable, ropeDim: number): T => {
  const begin = x.shape.map(() => 0)
  const ropeSize = [...x.shape.slice(0, -1), ropeDim]
  const restSize = [...x.shape.slice(0, -1), -1]
  const rotated = applyRope(tf.slice(x, begin, ropeSize) as T, rope, "half-split")
  const rest = tf.slice(x, [...begin.slice(0, -1), ropeDim], restSize)
  return tf.concat([rotated, rest], -1) as T
}

/** Indexer queries from the MLA query latent qr: [B, T, q_lora] → [B, T, H_I, d_I]. */
export const indexerQueries = (
  weights: IndexerWeights,
  config: AttentionConfig,
  qr: tf.Tensor3D,
  rope: RopeTable,
): tf.Tensor4D => {
  const [batch, tokens] = [dimOf(qr, 0), dimOf(qr, 1)]
  expectShape("indexerQueries qr", qr, [batch, tokens, config.q_lora_rank])
  return tf.tidy(() => {
    const q = linear(qr, weights.wq_b, "indexer.wq_b").reshape([
      batch,
      tokens,
      config.index_n_heads,
      config.index_head_dim,
    ])
    return ropeLeadingDims(q as tf.Tensor4D, rope, config.qk_rope_head_dim)
  })
}

/** Indexer keys, one per token: x [B, T, dim] → [B, T, d_I]. */
export const indexerKeys = (
  weights: IndexerWeights,
  config: AttentionConfig,
  x: tf.Tensor3D,
  rope: RopeTable,
): tf.Tensor3D => {
  expectShape("indexerKeys x", x, [null, null, config.dim])
  return tf.tidy(() => {
    const k = layerNorm(linear(x, weights.wk, "indexer.wk"), weights.k_norm_weight, weights.k_norm_bias) as tf.Tensor3D
    return ropeLeadingDims(k, rope, config.qk_rope_head_dim)
  })
}

/** Per-head weights w = weights_proj(x) · H_I^-½ · d_I^-½: x [B, T, dim] → [B, T, H_I]. */
export const indexerHeadWeights = (weights: IndexerWeights, config: AttentionConfig, x: tf.Tensor3D): tf.Tensor3D => {
  expectShape("indexerHeadWeights x", x, [null, null, config.dim])
  return tf.tidy(
    () => tf.mul(linear(x, weights.weights_proj, "indexer.weights_proj"), indexerWeightScale(config)) as tf.Tensor3D,
  )
}

/** Most elements of the [B, block, H_I, S] logits the reference materialises at once (64 MiB of float32). */
const logitBudget = 1 << 24

/**
 * Plain-tfjs index scores I[b, t, s] = Σ_j w[b, t, j] · ReLU(q[b, t, j] · k[b, s]), differentiable.
 * q: [B, T, H_I, d_I]; weights: [B, T, H_I]; keys: [B, S, d_I] → [B, T, S]. Queries are taken in blocks so the
 * per-head logits never exceed 2^24 elements.
 */
export const indexerScoresReference = (q: tf.Tensor4D, weights: tf.Tensor3D, keys: tf.Tensor3D): tf.Tensor3D =>
  tf.tidy(() => {
    const [batch, tokens, heads, width] = q.shape
    const keyCount = dimOf(keys, 1)
    const block = Math.max(1, Math.min(tokens, Math.floor(logitBudget / Math.max(1, batch * heads * keyCount))))
    const parts: Array<tf.Tensor> = []
    for (let start = 0; start < tokens; start += block) {
      const size = Math.min(block, tokens - start)
      const qBlock = tf.slice(q, [0, start, 0, 0], [-1, size, -1, -1]).reshape([batch, size * heads, width])
      const logits = tf.relu(tf.matMul(qBlock, keys, false, true)).reshape([batch, size, heads, keyCount])
      const w = tf.slice(weights, [0, start, 0], [-1, size, -1]).reshape([batch, size, 1, heads])
      parts.push(tf.matMul(w, logits).reshape([batch, size, keyCount]))
    }
    return (parts.length === 1 ? parts[0] : tf.concat(parts, 1)) as tf.Tensor3D
  })

/**
 * Index scores (a fast kernel when registered and `differentiable` is false, else the reference).
 * q: [B, T, H_I, d_I]; weights: [B, T, H_I]; keys: [B, S, d_I] → [B, T, S].
 */
export const indexerScores = (
  q: tf.Tensor4D,
  weights: tf.Tensor3D,
  keys: tf.Tensor3D,
  options: { readonly differentiable?: boolean } = {},
): tf.Tensor3D => {
  const [batch, tokens, heads, width] = q.shape
  expectShape("indexerScores weights", weights, [batch, tokens, heads])
  expectShape("indexerScores keys", keys, [batch, null, width])
  const fused = options.differentiable === true ? undefined : fusedAttentionKernels().indexerScores?.(q, weights, keys)
  return fused ?? indexerScoresReference(q, weights, keys)
}
