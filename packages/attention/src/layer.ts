/**
 * One block's attention with DeepSeek Sparse Attention (docs/attention.md §1-§6; reference `MLA.forward` + `Indexer`).
 * x is the attention input RMSNorm_attn(h) of the block, [B, T, dim].
 *
 *   1. MLA projections of the new tokens (mla.ts) and indexer queries/keys/head weights (indexer.ts) at the
 *      tokens' positions; the indexer reads x and the query latent qr DETACHED (docs/attention.md §9: its inputs get no gradient).
 *   2. With a cache, the new rows are written first; keys are then the cache rows 0 .. E−1 (E = longest
 *      sequence), else the chunk itself (startPos must then be 0).
 *   3. I = index scores [B, T, E]; S_t = top-k of I over the query's causal prefix (topk.ts).
 *   4. Attention over S_t (`selection: "topk"`) or over the whole causal prefix (`"dense"`: V3.1 / warm-up stage):
 *      - "mha": per-head keys/values up-projected, additive index mask (the reference prefill path);
 *      - "mqa": absorbed query, gather of only the selected cache rows (sparse-attention.ts; the reference decode
 *        path computes the same with a mask); dense selection uses the masked dense MQA attention.
 *      "auto": "mqa" with a cache (decode and chunked prefill over the cache: no up-projection of its E rows),
 *      "mha" without one when T > 1 (training and cache-less prefill, the reference prefill path).
 *   5. o → wo: [B, T, dim].
 *
 * With `training: true` the result also carries what the indexer losses need (losses.ts): the index scores
 * (differentiable in the indexer weights only), the detached attention target p[t, :] (head-summed, L1-normalised
 * main-attention distribution over keys) and the causal mask.
 */
import { dimOf, expectShape, InputError, nonDifferentiable, ShapeError, stopGradient } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { type AttentionConfig, mlaSoftmaxScale } from "./config.ts"
import { indicesToMask } from "./index-mask.ts"
import { indexerHeadWeights, indexerKeys, indexerQueries, indexerScores } from "./indexer.ts"
import { type LayerKvCache, writeKvCache } from "./kv-cache.ts"
import { type BatchLayout, batchLayout, causalMask, queryPositions, rowLengths } from "./layout.ts"
import { absorbOutput, absorbQuery, type MlaProjection, mhaAttention, mlaOutput, mlaProject } from "./mla.ts"
import { ropeTable } from "./rope.ts"
import { denseMlaAttentionWithProbs, sparseMlaAttention } from "./sparse-attention.ts"
import { topkIndices } from "./topk.ts"
import type { AttentionWeights } from "./weights.ts"

export interface AttentionLayerOptions {
  /** Position of each sequence's first new token: one number for all, or one per sequence. Default 0. */
  readonly startPos?: number | ReadonlyArray<number>
  /** Real new tokens per sequence (the rest of its row is right padding). Default: all T. */
  readonly validLengths?: ReadonlyArray<number>
  /** This layer's cache; the new rows are written into it. Without one, keys are the chunk itself. */
  readonly cache?: LayerKvCache
  /** "mha" (reference prefill), "mqa" (absorbed, sparse gather), "auto" (mqa with a cache or for one token, else mha). Default "auto". */
  readonly mode?: "auto" | "mha" | "mqa"
  /** "topk" (DSA) or "dense" (every causal key: V3.1-style MLA, the warm-up stage). Default "topk". */
  readonly selection?: "topk" | "dense"
  /** Also return the indexer-loss inputs (scores, attention target, causal mask). Default false. */
  readonly training?: boolean
  /** Also return the raw index scores I [B, T, E] (no causal mask added), for inspection. Default false. */
  readonly returnScores?: boolean
}

/** What the indexer losses need (all [B, T, E]). */
export interface IndexerTrainingOutputs {
  /** Index scores I, differentiable in the indexer weights only. */
  readonly scores: tf.Tensor3D
  /** Head-summed, L1-normalised main-attention distribution over keys, detached (zero on keys not attended). */
  readonly target: tf.Tensor3D
  /** bool: key s is in query t's causal, valid prefix. */
  readonly causal: tf.Tensor3D
}

export interface AttentionLayerResult {
  /** Attention output after wo, before the residual add: [B, T, dim]. */
  readonly output: tf.Tensor3D
  /** int32 [B, T, min(index_topk, E)]: the indexer's selected key positions, −1 in empty slots. */
  readonly indices: tf.Tensor3D
  /** E, the length of the key axis (positions 0 .. E−1) that `indices` point into. */
  readonly keyCount: number
  /** Index scores I [B, T, E] without the causal mask; present when `returnScores` was set. */
  readonly scores?: tf.Tensor3D
  /** Present when `training` was set. */
  readonly training?: IndexerTrainingOutputs
}

const layoutFor = (x: tf.Tensor3D, options: AttentionLayerOptions): BatchLayout => {
  const [batch, tokens] = [dimOf(x, 0), dimOf(x, 1)]
  const base = batchLayout(batch, tokens, {
    ...(options.startPos === undefined ? {} : { startPos: options.startPos }),
    ...(options.validLengths === undefined ? {} : { validLengths: options.validLengths }),
  })
  if (options.cache === undefined) {
    if (base.startPos.some((s) => s !== 0))
      throw new InputError({
        source: "startPos",
        reason: "without a cache the keys are the chunk itself, so every startPos must be 0",
      })
    return batchLayout(batch, tokens, { validLengths: base.validLengths, keyCount: tokens })
  }
  return base
}

/** "auto": the absorbed MQA path with a cache or for one token; MHA for a cache-less chunk (docs/attention.md §11). */
const autoMode = (layout: BatchLayout, options: AttentionLayerOptions): "mha" | "mqa" =>
  options.cache !== undefined || layout.tokens === 1 ? "mqa" : "mha"

/** The attention output o [B, T, H, v] of the chosen mode, and (when asked) the probabilities [B, T, H, E]. */
const attend = (
  weights: AttentionWeights,
  config: AttentionConfig,
  projection: MlaProjection,
  keys: tf.Tensor3D,
  selected: { readonly indices: tf.Tensor3D; readonly causal: () => tf.Tensor3D },
  choice: { readonly mode: "mha" | "mqa"; readonly selection: "topk" | "dense"; readonly probs: boolean },
): { readonly output: tf.Tensor4D; readonly probs?: tf.Tensor4D } => {
  const allowed = () =>
    choice.selection === "topk" ? indicesToMask(selected.indices, dimOf(keys, 1)) : selected.causal()
  if (choice.mode === "mha") return mhaAttention(weights, config, projection, keys, allowed())
  const query = absorbQuery(weights, config, projection)
  const scale = mlaSoftmaxScale(config)
  if (choice.selection === "dense") {
    const dense = denseMlaAttentionWithProbs(query, keys, allowed(), scale, config.kv_lora_rank)
    return { output: absorbOutput(weights, config, dense.output), probs: dense.probs }
  }
  const sparse = sparseMlaAttention(query, keys, selected.indices, scale, config.kv_lora_rank)
  const output = absorbOutput(weights, config, sparse.output)
  if (!choice.probs) return { output }
  // The training target only: the same probabilities over the selected keys, dense-shaped, detached.
  const probs = nonDifferentiable(
    (q, kv, mask) =>
      denseMlaAttentionWithProbs(q as tf.Tensor4D, kv as tf.Tensor3D, mask as tf.Tensor3D, scale, config.kv_lora_rank)
        .probs,
    query,
    keys,
    allowed(),
  )
  return { output, probs }
}

/** p[b, t, s] = Σ_h P[b, t, h, s] / Σ_{h, s} P[b, t, h, s], detached. */
const attentionTarget = (probs: tf.Tensor4D): tf.Tensor3D => {
  const summed = tf.sum(stopGradient(probs), 2)
  return tf.div(summed, tf.maximum(tf.sum(summed, -1, true), Number.MIN_VALUE)) as tf.Tensor3D
}

/**
 * Runs one block's attention (see the file comment). weights: the block's attention weights; x: [B, T, dim].
 * Returns the output [B, T, dim], the selected indices and (when training) the indexer-loss inputs; the caller
 * owns and disposes every returned tensor. The cache, when given, is updated in place.
 */
export const attentionLayer = (
  weights: AttentionWeights,
  config: AttentionConfig,
  x: tf.Tensor3D,
  options: AttentionLayerOptions = {},
): AttentionLayerResult => {
  expectShape("attentionLayer x", x, [null, null, config.dim])
  if (options.cache !== undefined && options.cache.host.batch !== dimOf(x, 0))
    throw new ShapeError({
      argument: "attentionLayer cache",
      expected: `${dimOf(x, 0)} sequences (the batch of x)`,
      actual: String(options.cache.host.batch),
    })
  const tokensLayout = layoutFor(x, options)
  const mode = options.mode === undefined || options.mode === "auto" ? autoMode(tokensLayout, options) : options.mode
  const selection = options.selection ?? "topk"
  const training = options.training === true
  return tf.tidy(() => {
    const rope = ropeTable(config, queryPositions(tokensLayout))
    const projection = mlaProject(weights, config, x, rope)
    const indexerInput = stopGradient(x)
    const indexQueries = indexerQueries(weights.indexer, config, stopGradient(projection.qr), rope)
    const newIndexKeys = indexerKeys(weights.indexer, config, indexerInput, rope)
    const headWeights = indexerHeadWeights(weights.indexer, config, indexerInput)
    const cache = options.cache
    if (cache !== undefined) writeKvCache(cache, { kv: projection.kv, indexKeys: newIndexKeys }, tokensLayout)
    const keys = cache === undefined ? projection.kv : cache.kv
    const indexKeys = cache === undefined ? newIndexKeys : cache.indexKeys
    const layout = cache === undefined ? tokensLayout : { ...tokensLayout, keyCount: dimOf(keys, 1) }
    const scores = indexerScores(indexQueries, headWeights, indexKeys, { differentiable: training })
    const lengths = rowLengths(layout)
    const indices = topkIndices(scores, lengths, config.index_topk)
    let causal: tf.Tensor3D | undefined
    const causalOnce = () => {
      causal ??= causalMask(layout)
      return causal
    }
    const attended = attend(
      weights,
      config,
      projection,
      keys,
      { indices, causal: causalOnce },
      { mode, selection, probs: training },
    )
    const output = mlaOutput(weights, config, attended.output)
    const base = { output, indices, keyCount: layout.keyCount, ...(options.returnScores === true ? { scores } : {}) }
    if (!training || attended.probs === undefined) return base
    return { ...base, training: { scores, target: attentionTarget(attended.probs), causal: causalOnce() } }
  })
}
