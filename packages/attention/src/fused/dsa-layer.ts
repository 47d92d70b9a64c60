/**
 * The fused DSA attention layer for inference (decode and chunked prefill) over a host-memory KV cache
 * (docs/attention.md §4-§6; the MQA-mode path of layer.ts with `selection: "topk"`):
 *
 *   1. MLA and indexer projections of the new tokens (mla.ts, indexer.ts), tfjs on the current backend;
 *   2. the new rows are written into the host cache in place (host-kv-cache.ts, O(T) per call);
 *   3. in C over host arrays: the absorbed query (W_UK), then ONE call per sequence for index scores over the
 *      cache, exact top-k over each token's causal prefix and sparse MQA attention over the selected rows
 *      (ds_dsa_attention), then the absorbed value up-projection (W_UV);
 *   4. wo (tfjs).
 * It returns what `attentionLayer(…, { mode: "mqa" })` returns on the same weights and cache contents (tests:
 * fused-cache.test.ts): the output [B, T, dim], the selected indices [B, T, min(index_topk, E)] (as a set per
 * row, in ascending order) and E.
 *
 * Without the native addon the same steps run with the plain-tfjs kernels over tensors copied from the cache
 * (correct, O(E) per call). Inference only: no gradient flows through the host cache.
 */
import { dimOf, expectShape } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { type AttentionConfig, mlaSoftmaxScale } from "../config.ts"
import { indexerHeadWeights, indexerKeys, indexerQueries, indexerScores } from "../indexer.ts"
import { type BatchLayout, batchLayout, queryPositions, rowLengthValues } from "../layout.ts"
import { absorbOutput, absorbQuery, type MlaProjection, mlaOutput, mlaProject } from "../mla.ts"
import { ropeTable } from "../rope.ts"
import { sparseMlaAttention } from "../sparse-attention.ts"
import { topkIndices } from "../topk.ts"
import type { AttentionWeights } from "../weights.ts"
import { type HostKvCache, hostCacheTensor, hostIndexKeys, hostKvRows, writeHostKvCache } from "./host-kv-cache.ts"
import { type NativeAttentionKernels, nativeAttention } from "./native.ts"
import { hostArray } from "./tensor-arrays.ts"

export interface DsaLayerOptions {
  /** This layer's host cache; the new rows are written into it. */
  readonly cache: HostKvCache
  /** Position of each sequence's first new token (one number, or one per sequence). Default 0. */
  readonly startPos?: number | ReadonlyArray<number>
  /** Real new tokens per sequence (the rest is right padding). Default: all T. */
  readonly validLengths?: ReadonlyArray<number>
}

export interface DsaLayerResult {
  /** Attention output after wo, before the residual add: [B, T, dim]. */
  readonly output: tf.Tensor3D
  /** int32 [B, T, min(index_topk, E)]: the selected positions, ascending, −1 in empty slots. */
  readonly indices: tf.Tensor3D
  /** E, the key axis `indices` point into. */
  readonly keyCount: number
}

interface Attended {
  /** Per-head outputs o [B, T, H, v] (before wo). */
  readonly output: tf.Tensor4D
  readonly indices: tf.Tensor3D
}

interface StepInputs {
  readonly weights: AttentionWeights
  readonly config: AttentionConfig
  readonly cache: HostKvCache
  readonly layout: BatchLayout
  readonly keyCount: number
  readonly projection: MlaProjection
  readonly indexQ: tf.Tensor4D
  readonly headWeights: tf.Tensor3D
}

/**
 * Steps 3-4 in C: the absorbed query (W_UK), one ds_dsa_attention call per sequence over the cache arrays, and
 * the absorbed output (W_UV), all on host arrays (Wkv_b read in place on wasm/cpu).
 */
const attendNative = (native: NativeAttentionKernels, step: StepInputs): Attended => {
  const { config, cache, layout, keyCount } = step
  const { batch, tokens } = layout
  const heads = config.n_heads
  const width = cache.kvWidth
  const kvLora = config.kv_lora_rank
  const indexHeads = config.index_n_heads
  const indexDim = config.index_head_dim
  const topkWidth = Math.min(config.index_topk, keyCount)
  const q = tf.concat([step.projection.qNope, step.projection.qRope], -1).dataSync() as Float32Array
  const indexQ = step.indexQ.dataSync() as Float32Array
  const indexWeights = step.headWeights.dataSync() as Float32Array
  const rowLengths = rowLengthValues(layout)
  const qAbs = new Float32Array(batch * tokens * heads * width)
  const latent = new Float32Array(batch * tokens * heads * kvLora)
  const lse = new Float32Array(batch * tokens * heads)
  const indices = new Int32Array(batch * tokens * topkWidth)
  const output = new Float32Array(batch * tokens * heads * config.v_head_dim)
  // No tensor is allocated from here on until the native calls are done: the wasm view of Wkv_b stays valid.
  const absorb = {
    tokens: batch * tokens,
    heads,
    nope: config.qk_nope_head_dim,
    rope: config.qk_rope_head_dim,
    valueDim: config.v_head_dim,
    kvLora,
    wkvB: hostArray(step.weights.wkv_b) as Float32Array,
  }
  native.attentionAbsorbQuery({ ...absorb, q, output: qAbs })
  for (let b = 0; b < batch; b++) {
    const rows = b * tokens
    native.attentionDsa({
      q: qAbs.subarray(rows * heads * width, (rows + tokens) * heads * width),
      indexQ: indexQ.subarray(rows * indexHeads * indexDim, (rows + tokens) * indexHeads * indexDim),
      indexWeights: indexWeights.subarray(rows * indexHeads, (rows + tokens) * indexHeads),
      kv: hostKvRows(cache, b, keyCount),
      ...hostIndexKeys(cache, b, keyCount),
      rowLengths: rowLengths.subarray(rows, rows + tokens),
      tokens,
      heads,
      width,
      valueDim: kvLora,
      scale: mlaSoftmaxScale(config),
      keyCount,
      indexHeads,
      indexDim,
      topk: config.index_topk,
      output: latent.subarray(rows * heads * kvLora, (rows + tokens) * heads * kvLora),
      lse: lse.subarray(rows * heads, (rows + tokens) * heads),
      indices: indices.subarray(rows * topkWidth, (rows + tokens) * topkWidth),
    })
  }
  native.attentionAbsorbOutput({ ...absorb, latent, output })
  return {
    output: tf.tensor4d(output, [batch, tokens, heads, config.v_head_dim]),
    indices: tf.tensor3d(indices, [batch, tokens, topkWidth], "int32"),
  }
}

/** Steps 3-4 with the plain-tfjs kernels (no addon): tensors copied from the float cache. */
const attendReference = (step: StepInputs): Attended => {
  const { weights, config, cache, layout, keyCount } = step
  const kv = hostCacheTensor(cache, "kv", keyCount)
  const keys = hostCacheTensor(cache, "indexKeys", keyCount)
  const scores = indexerScores(step.indexQ, step.headWeights, keys)
  const lengths = tf.tensor2d(rowLengthValues(layout), [layout.batch, layout.tokens], "int32")
  const indices = topkIndices(scores, lengths, config.index_topk)
  const query = absorbQuery(weights, config, step.projection)
  const { output } = sparseMlaAttention(query, kv, indices, mlaSoftmaxScale(config), config.kv_lora_rank)
  return { output: absorbOutput(weights, config, output), indices }
}

/**
 * Runs one block's DSA attention over the host cache (see the file comment). weights: the block's attention
 * weights; x: [B, T, dim], the attention input RMSNorm_attn(h). The cache is updated in place; the caller owns
 * the returned tensors.
 */
export const dsaAttentionLayer = (
  weights: AttentionWeights,
  config: AttentionConfig,
  x: tf.Tensor3D,
  options: DsaLayerOptions,
): DsaLayerResult => {
  const { cache } = options
  expectShape("dsaAttentionLayer x", x, [cache.batch, null, config.dim])
  const layout = batchLayout(dimOf(x, 0), dimOf(x, 1), {
    ...(options.startPos === undefined ? {} : { startPos: options.startPos }),
    ...(options.validLengths === undefined ? {} : { validLengths: options.validLengths }),
  })
  const native = nativeAttention()
  return tf.tidy(() => {
    const rope = ropeTable(config, queryPositions(layout))
    const projection = mlaProject(weights, config, x, rope)
    const indexQ = indexerQueries(weights.indexer, config, projection.qr, rope)
    const newKeys = indexerKeys(weights.indexer, config, x, rope)
    const headWeights = indexerHeadWeights(weights.indexer, config, x)
    writeHostKvCache(cache, { kv: projection.kv, indexKeys: newKeys }, layout, native)
    const keyCount = cache.extent
    const step = { weights, config, cache, layout, keyCount, projection, indexQ, headWeights }
    const attended = native === undefined ? attendReference(step) : attendNative(native, step)
    return { output: mlaOutput(weights, config, attended.output), indices: attended.indices, keyCount }
  })
}
