/**
 * The attention weights of one block, named as the reference `state_dict()` (fixture README
 * tooling/fixtures/golden/base/README.md; docs/attention.md §3, §5; docs/model.md §5). Linear weights are [out, in] (y = x·Wᵀ).
 *
 *   wq_a    [q_lora, dim]                  q_norm  [q_lora]
 *   wq_b    [H·(nope+rope), q_lora]        per head nope first, rope last
 *   wkv_a   [kv_lora+rope, dim]            output [c_KV | k_rope]
 *   kv_norm [kv_lora]
 *   wkv_b   [H·(nope+v), kv_lora]          per head [W_UK (nope rows) ; W_UV (v rows)]
 *   wo      [dim, H·v]
 *   indexer.wq_b [H_I·d_I, q_lora] (per head rope first), indexer.wk [d_I, dim] (rope first),
 *   indexer.k_norm.{weight,bias} [d_I], indexer.weights_proj [H_I, dim]
 */
import { expectShape } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { type AttentionConfig, qkHeadDim } from "./config.ts"

/** Lightning-indexer weights (reference names under `attn.indexer.`). */
export interface IndexerWeights {
  readonly wq_b: tf.Tensor2D
  readonly wk: tf.Tensor2D
  /** `k_norm.weight` */
  readonly k_norm_weight: tf.Tensor1D
  /** `k_norm.bias` */
  readonly k_norm_bias: tf.Tensor1D
  readonly weights_proj: tf.Tensor2D
}

/** MLA weights (reference names under `attn.`; the norms are their `.weight`). */
export interface MlaWeights {
  readonly wq_a: tf.Tensor2D
  readonly q_norm: tf.Tensor1D
  readonly wq_b: tf.Tensor2D
  readonly wkv_a: tf.Tensor2D
  readonly kv_norm: tf.Tensor1D
  readonly wkv_b: tf.Tensor2D
  readonly wo: tf.Tensor2D
}

/** One block's attention: MLA plus its indexer. */
export interface AttentionWeights extends MlaWeights {
  readonly indexer: IndexerWeights
}

/** The parameter names of one block's attention relative to its prefix (e.g. "layers.0.attn."), in load order. */
export const attentionParameterNames = [
  "wq_a.weight",
  "q_norm.weight",
  "wq_b.weight",
  "wkv_a.weight",
  "kv_norm.weight",
  "wkv_b.weight",
  "wo.weight",
  "indexer.wq_b.weight",
  "indexer.wk.weight",
  "indexer.k_norm.weight",
  "indexer.k_norm.bias",
  "indexer.weights_proj.weight",
] as const

/**
 * Collects one block's attention weights from reference-named tensors: `get("layers.3.attn.wq_a.weight")` etc.
 * `prefix` is the block's attention prefix, e.g. "layers.3.attn.". Shapes are checked against the config.
 */
export const attentionWeightsFrom = (
  get: (name: string) => tf.Tensor,
  prefix: string,
  config: AttentionConfig,
): AttentionWeights => {
  const at = <T extends tf.Tensor>(name: string) => get(`${prefix}${name}`) as T
  const weights: AttentionWeights = {
    wq_a: at("wq_a.weight"),
    q_norm: at("q_norm.weight"),
    wq_b: at("wq_b.weight"),
    wkv_a: at("wkv_a.weight"),
    kv_norm: at("kv_norm.weight"),
    wkv_b: at("wkv_b.weight"),
    wo: at("wo.weight"),
    indexer: {
      wq_b: at("indexer.wq_b.weight"),
      wk: at("indexer.wk.weight"),
      k_norm_weight: at("indexer.k_norm.weight"),
      k_norm_bias: at("indexer.k_norm.bias"),
      weights_proj: at("indexer.weights_proj.weight"),
    },
  }
  return checkAttentionWeights(weights, config, prefix)
}

/** The expected shape of every attention weight for a config (reference names relative to the block prefix). */
export const attentionWeightShapes = (
  config: AttentionConfig,
): Readonly<Record<(typeof attentionParameterNames)[number], ReadonlyArray<number>>> => {
  const {
    dim,
    n_heads: heads,
    q_lora_rank: qLora,
    kv_lora_rank: kvLora,
    qk_nope_head_dim: nope,
    qk_rope_head_dim: rope,
  } = config
  return {
    "wq_a.weight": [qLora, dim],
    "q_norm.weight": [qLora],
    "wq_b.weight": [heads * qkHeadDim(config), qLora],
    "wkv_a.weight": [kvLora + rope, dim],
    "kv_norm.weight": [kvLora],
    "wkv_b.weight": [heads * (nope + config.v_head_dim), kvLora],
    "wo.weight": [dim, heads * config.v_head_dim],
    "indexer.wq_b.weight": [config.index_n_heads * config.index_head_dim, qLora],
    "indexer.wk.weight": [config.index_head_dim, dim],
    "indexer.k_norm.weight": [config.index_head_dim],
    "indexer.k_norm.bias": [config.index_head_dim],
    "indexer.weights_proj.weight": [config.index_n_heads, dim],
  }
}

/** Throws ShapeError (naming `prefix + parameter`) for the first weight whose shape does not fit the config. */
export const checkAttentionWeights = (
  weights: AttentionWeights,
  config: AttentionConfig,
  prefix = "",
): AttentionWeights => {
  const shapes = attentionWeightShapes(config)
  const byName: Record<(typeof attentionParameterNames)[number], tf.Tensor> = {
    "wq_a.weight": weights.wq_a,
    "q_norm.weight": weights.q_norm,
    "wq_b.weight": weights.wq_b,
    "wkv_a.weight": weights.wkv_a,
    "kv_norm.weight": weights.kv_norm,
    "wkv_b.weight": weights.wkv_b,
    "wo.weight": weights.wo,
    "indexer.wq_b.weight": weights.indexer.wq_b,
    "indexer.wk.weight": weights.indexer.wk,
    "indexer.k_norm.weight": weights.indexer.k_norm_weight,
    "indexer.k_norm.bias": weights.indexer.k_norm_bias,
    "indexer.weights_proj.weight": weights.indexer.weights_proj,
  }
  for (const name of attentionParameterNames) expectShape(`${prefix}${name}`, byName[name], shapes[name])
  return weights
}

/**
 * Wkv_b split per head for the absorbed (MQA) mode (docs/attention.md §5):
 *   Wkv_b viewed [H, nope + v, kv_lora];  W_UK = rows [0, nope) → [H, nope, kv_lora],  W_UV = rows [nope, nope + v)
 */
export interface AbsorbedProjections {
  readonly wUK: tf.Tensor3D
  readonly wUV: tf.Tensor3D
}

interface AbsorbedEntry extends AbsorbedProjections {
  readonly source: tf.Tensor
  /** The source's data at the time of slicing: `Variable.assign` (an optimizer step) replaces it. */
  readonly dataId: object
}

/** Derived projections by the Wkv_b tensor they were sliced from (the weights' identity). */
const absorbedCache = new WeakMap<tf.Tensor, AbsorbedEntry>()
/** The same entries, strongly held, so those of weights disposed elsewhere are released on the next miss. */
const liveEntries = new Set<AbsorbedEntry>()

const releaseEntry = (entry: AbsorbedEntry): void => {
  liveEntries.delete(entry)
  if (absorbedCache.get(entry.source) === entry) absorbedCache.delete(entry.source)
  entry.wUK.dispose()
  entry.wUV.dispose()
}

const sliceAbsorbed = (wkvB: tf.Tensor2D, config: AttentionConfig): AbsorbedProjections =>
  tf.tidy(() => {
    const { n_heads: heads, qk_nope_head_dim: nope, v_head_dim: vDim, kv_lora_rank: kvLora } = config
    const perHead = wkvB.reshape([heads, nope + vDim, kvLora])
    return {
      wUK: tf.slice(perHead, [0, 0, 0], [-1, nope, -1]) as tf.Tensor3D,
      wUV: tf.slice(perHead, [0, nope, 0], [-1, vDim, -1]) as tf.Tensor3D,
    }
  })

/**
 * W_UK and W_UV of a layer, sliced once per Wkv_b and reused by every absorbed call (decode steps).
 * Cached only while no gradient is being recorded (training slices afresh, on the tape, so Wkv_b gets its
 * gradient) and only while Wkv_b holds the data it was sliced from (a `Variable.assign` invalidates the entry).
 * The cache owns the returned tensors: callers must not dispose them. `disposeAttentionWeights` (or
 * `disposeAbsorbedProjections`) releases them with the weights.
 */
export const absorbedProjections = (weights: MlaWeights, config: AttentionConfig): AbsorbedProjections => {
  const source = weights.wkv_b
  if (tf.engine().state.gradientDepth > 0) return sliceAbsorbed(source, config)
  const cached = absorbedCache.get(source)
  if (cached !== undefined && cached.dataId === source.dataId && !cached.wUK.isDisposed && !cached.wUV.isDisposed)
    return cached
  if (cached !== undefined) releaseEntry(cached)
  for (const entry of liveEntries) if (entry.source.isDisposed) releaseEntry(entry)
  const sliced = sliceAbsorbed(source, config)
  const entry: AbsorbedEntry = { ...sliced, source, dataId: source.dataId }
  tf.keep(entry.wUK)
  tf.keep(entry.wUV)
  absorbedCache.set(source, entry)
  liveEntries.add(entry)
  return entry
}

/** Releases the absorbed projections derived from a tensor (a no-op for tensors without any). */
export const disposeAbsorbedProjections = (wkvB: tf.Tensor): void => {
  const entry = absorbedCache.get(wkvB)
  if (entry !== undefined) releaseEntry(entry)
}
