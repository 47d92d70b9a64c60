/**
 * Multi-head latent attention, reference weight layout (docs/attention.md §5; reference `MLA.forward`).
 * B batch, T new tokens, E keys, H heads, R = qk_rope_head_dim.
 *
 *   c_Q    = RMSNorm_q(x · Wq_aᵀ)                               [B, T, q_lora]   (also the indexer's input qr)
 *   q      = c_Q · Wq_bᵀ → [B, T, H, nope + R];  q_nope = q[..., :nope],  q_rope = RoPE_interleaved(q[..., nope:])
 *   kv     = x · Wkv_aᵀ = [c | k_rope];  c_KV = RMSNorm_kv(c),  k_rope = RoPE_interleaved(k_rope)
 *   cache row  = [c_KV ; k_rope]                                 [B, E, kv_lora + R]  (one row per token, all heads)
 *
 * MHA mode (reference prefill): per-head keys and values from the latent,
 *   [k_nope | v] = c_KV · Wkv_bᵀ → [B, E, H, nope + v];  k = [k_nope ; k_rope broadcast over heads]
 *   o[h] = softmax_allowed(scale · q[h] · k[h]) · v[h]                                        [B, T, H, v]
 * MQA (absorbed) mode (reference decode): Wkv_b viewed [H, nope + v, kv_lora] = [W_UK ; W_UV] per head,
 *   q_abs[h] = [q_nope[h] · W_UK[h] ; q_rope[h]]                                             [B, T, H, kv_lora + R]
 *   o_lat[h] = softmax_allowed(scale · q_abs[h] · row) · row[:kv_lora]   (sparse-attention.ts)  [B, T, H, kv_lora]
 *   o[h]     = o_lat[h] · W_UV[h]ᵀ                                                              [B, T, H, v]
 * Output: flatten(o) · Woᵀ → [B, T, dim]. scale = qk_head_dim^-½ · mscale² (config.ts).
 * Both modes take an allowed-key mask (causal ∧ selected), so both support the index mask.
 */
import { dimOf, expectShape, linear } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { type AttentionConfig, kvEntryDim, mlaSoftmaxScale } from "./config.ts"
import { maskedSoftmax } from "./masked-softmax.ts"
import { rmsNorm } from "./norms.ts"
import { applyRope, type RopeTable } from "./rope.ts"
import { absorbedProjections, type MlaWeights } from "./weights.ts"

/** The new tokens' queries and cache rows. */
export interface MlaProjection {
  /** Query latent after q_norm [B, T, q_lora] — the indexer reads it. */
  readonly qr: tf.Tensor3D
  /** [B, T, H, nope] */
  readonly qNope: tf.Tensor4D
  /** [B, T, H, R], rotated (interleaved pairs) */
  readonly qRope: tf.Tensor4D
  /** Cache rows [c_KV ; k_rope] of the new tokens [B, T, kv_lora + R], k_rope rotated (interleaved). */
  readonly kv: tf.Tensor3D
}

/** Queries and cache rows of x: [B, T, dim], with RoPE angles for the tokens' positions. */
export const mlaProject = (
  weights: MlaWeights,
  config: AttentionConfig,
  x: tf.Tensor3D,
  rope: RopeTable,
): MlaProjection => {
  const [batch, tokens] = [dimOf(x, 0), dimOf(x, 1)]
  expectShape("mlaProject x", x, [batch, tokens, config.dim])
  const { n_heads: heads, qk_nope_head_dim: nope, qk_rope_head_dim: ropeDim, kv_lora_rank: kvLora } = config
  return tf.tidy(() => {
    const qr = rmsNorm(linear(x, weights.wq_a, "wq_a"), weights.q_norm) as tf.Tensor3D
    const q = linear(qr, weights.wq_b, "wq_b").reshape([batch, tokens, heads, nope + ropeDim])
    const qNope = tf.slice(q, [0, 0, 0, 0], [-1, -1, -1, nope]) as tf.Tensor4D
    const qRope = applyRope(tf.slice(q, [0, 0, 0, nope], [-1, -1, -1, ropeDim]) as tf.Tensor4D, rope, "interleaved")
    const kvA = linear(x, weights.wkv_a, "wkv_a")
    const latent = rmsNorm(tf.slice(kvA, [0, 0, 0], [-1, -1, kvLora]), weights.kv_norm)
    const kRope = applyRope(tf.slice(kvA, [0, 0, kvLora], [-1, -1, ropeDim]) as tf.Tensor3D, rope, "interleaved")
    return { qr, qNope, qRope, kv: tf.concat([latent, kRope], -1) as tf.Tensor3D }
  })
}

/**
 * MHA-mode attention over cache rows kv: [B, E, kv_lora + R] with allowed: bool [B, T, E].
 * Returns o [B, T, H, v] and the probabilities [B, T, H, E].
 */
export const mhaAttention = (
  weights: MlaWeights,
  config: AttentionConfig,
  query: Pick<MlaProjection, "qNope" | "qRope">,
  kv: tf.Tensor3D,
  allowed: tf.Tensor3D,
): { readonly output: tf.Tensor4D; readonly probs: tf.Tensor4D } => {
  const [batch, tokens] = [dimOf(query.qNope, 0), dimOf(query.qNope, 1)]
  const keys = dimOf(kv, 1)
  expectShape("mhaAttention kv", kv, [batch, keys, kvEntryDim(config)])
  expectShape("mhaAttention allowed", allowed, [batch, tokens, keys])
  const {
    n_heads: heads,
    qk_nope_head_dim: nope,
    qk_rope_head_dim: ropeDim,
    kv_lora_rank: kvLora,
    v_head_dim: vDim,
  } = config
  return tf.tidy(() => {
    const latent = tf.slice(kv, [0, 0, 0], [-1, -1, kvLora])
    const kRope = tf.slice(kv, [0, 0, kvLora], [-1, -1, ropeDim])
    const up = linear(latent, weights.wkv_b, "wkv_b").reshape([batch, keys, heads, nope + vDim])
    const kNope = tf.slice(up, [0, 0, 0, 0], [-1, -1, -1, nope])
    const values = tf.transpose(tf.slice(up, [0, 0, 0, nope], [-1, -1, -1, vDim]), [0, 2, 1, 3]) // [B, H, E, v]
    const keysFull = tf.concat([kNope, tf.tile(tf.expandDims(kRope, 2), [1, 1, heads, 1])], -1) // [B, E, H, qk]
    const queries = tf.concat([query.qNope, query.qRope], -1) // [B, T, H, qk]
    const logits = tf.mul(
      tf.matMul(tf.transpose(queries, [0, 2, 1, 3]), tf.transpose(keysFull, [0, 2, 1, 3]), false, true),
      mlaSoftmaxScale(config),
    ) // [B, H, T, E]
    const { probs } = maskedSoftmax(logits, tf.expandDims(allowed, 1))
    const output = tf.transpose(tf.matMul(probs, values), [0, 2, 1, 3]) as tf.Tensor4D // [B, T, H, v]
    return { output, probs: tf.transpose(probs, [0, 2, 1, 3]) as tf.Tensor4D }
  })
}

/**
 * Absorbed query [q_nope[h] · W_UK[h] ; q_rope[h]]: [B, T, H, kv_lora + R] (the MQA-mode query). W_UK is sliced
 * from Wkv_b once per layer outside training (weights.ts `absorbedProjections`).
 */
export const absorbQuery = (
  weights: MlaWeights,
  config: AttentionConfig,
  query: Pick<MlaProjection, "qNope" | "qRope">,
): tf.Tensor4D => {
  const [batch, tokens] = [dimOf(query.qNope, 0), dimOf(query.qNope, 1)]
  const { n_heads: heads, qk_nope_head_dim: nope, kv_lora_rank: kvLora } = config
  expectShape("absorbQuery qNope", query.qNope, [batch, tokens, heads, nope])
  return tf.tidy(() => {
    const { wUK } = absorbedProjections(weights, config) // [H, nope, kv_lora]
    const perHead = tf.transpose(query.qNope.reshape([batch * tokens, heads, nope]), [1, 0, 2]) // [H, B·T, nope]
    const absorbed = tf.transpose(tf.matMul(perHead, wUK), [1, 0, 2]).reshape([batch, tokens, heads, kvLora])
    return tf.concat([absorbed, query.qRope], -1) as tf.Tensor4D
  })
}

/** Per-head value up-projection o[h] = o_lat[h] · W_UV[h]ᵀ: [B, T, H, kv_lora] → [B, T, H, v]. */
export const absorbOutput = (weights: MlaWeights, config: AttentionConfig, latentOutput: tf.Tensor4D): tf.Tensor4D => {
  const [batch, tokens] = [dimOf(latentOutput, 0), dimOf(latentOutput, 1)]
  const { n_heads: heads, kv_lora_rank: kvLora, v_head_dim: vDim } = config
  expectShape("absorbOutput latentOutput", latentOutput, [batch, tokens, heads, kvLora])
  return tf.tidy(() => {
    const { wUV } = absorbedProjections(weights, config) // [H, v, kv_lora]
    const perHead = tf.transpose(latentOutput.reshape([batch * tokens, heads, kvLora]), [1, 0, 2]) // [H, B·T, kv_lora]
    return tf
      .transpose(tf.matMul(perHead, wUV, false, true), [1, 0, 2])
      .reshape([batch, tokens, heads, vDim]) as tf.Tensor4D
  })
}

/** Output projection flatten(o) · Woᵀ: [B, T, H, v] → [B, T, dim]. */
export const mlaOutput = (weights: MlaWeights, config: AttentionConfig, output: tf.Tensor4D): tf.Tensor3D =>
  tf.tidy(() => {
    const [batch, tokens] = [dimOf(output, 0), dimOf(output, 1)]
    return linear(output.reshape([batch, tokens, config.n_heads * config.v_head_dim]), weights.wo, "wo") as tf.Tensor3D
  })
