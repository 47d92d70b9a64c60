/**
 * The DeepSeek-V3.2 transformer (docs/model.md §1-§2; reference `Transformer.forward` and `Block.forward`):
 *
 *   h_0 = Embed(tokens)                                                  [B, T, dim]
 *   block l:  h ← h + MLA_DSA(RMSNorm_attn(h))                           (@ds/attention `attentionLayer`)
 *             h ← h + (l < n_dense_layers ? SwiGLU(RMSNorm_ffn(h)) : MoE(RMSNorm_ffn(h)))
 *   logits = RMSNorm(h_L) · headᵀ                                        [B, V] (last position) or [B, T, V]
 *
 * One forward serves every use: prefill and decode with a KV cache (any start position per sequence, right
 * padding for prompts of different lengths), training over full sequences (no cache), Keep Routing (forced expert
 * ids per MoE layer), and captures for parity checks (indexer selections, gate weights).
 *
 * Attention path (attention-path.ts, docs/model.md §9): with a KV cache and top-k selection, `attention` "fused"
 * (the default when the native kernels are loaded) runs @ds/attention `dsaAttentionLayer` over the cache's
 * in-place host store, or the masked-dense reference layer for a chunk short enough to be faster dense;
 * everything else (training, no cache, dense selection, a forced `attentionMode`) runs `attentionLayer`.
 *
 * Deviation: the reference returns only last-position logits; `logits: "all"` gives every position (training and
 * `logits_all` in the golden data). Padding tokens (t ≥ validLengths[b]) are routed to no expert and their outputs
 * are meaningless; "last" picks position validLengths[b] − 1 of each sequence.
 */
import {
  type AttentionLayerResult,
  type AttentionWeights,
  attentionLayer,
  attentionWeightsFrom,
  createKvCache,
  disposeKvCache,
  dsaAttentionLayer,
  type IndexerTrainingOutputs,
  type LayerKvCache,
  pickKvCacheRows,
  rmsNorm,
} from "@ds/attention"
import { linear, ShapeError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { type AttentionPath, prefersDense, resolveAttentionPath } from "./attention-path.ts"
import { isMoeLayer, type ModelConfig } from "./config.ts"
import { type SwiGluWeights, swiGlu } from "./ffn.ts"
import { type MoeWeights, moe } from "./moe.ts"
import type { Parameters } from "./params.ts"

/** A loaded or freshly initialised model: its config and named parameters (reference names). */
export interface Model {
  readonly config: ModelConfig
  readonly params: Parameters
}

/**
 * One KV cache per layer, for a batch of sequences. Each layer's rows live in an in-place host store that both
 * attention paths read and write (@ds/attention kv-cache.ts), so a call may switch path.
 */
export interface ModelCache {
  readonly layers: ReadonlyArray<LayerKvCache>
}

export const createModelCache = (config: ModelConfig, batch: number, capacity = config.max_seq_len): ModelCache => ({
  layers: Array.from({ length: config.n_layers }, () => createKvCache(config, batch, capacity)),
})

export const disposeModelCache = (cache: ModelCache): void => {
  for (const layer of cache.layers) disposeKvCache(layer)
}

/**
 * A new cache holding the given sequences of the given caches, in order: `picks` are [cache, row] pairs (a
 * running batch's join and leave, apps/server). Copies only the picked valid rows; the inputs are left as they are.
 */
export const pickModelCacheRows = (picks: ReadonlyArray<readonly [ModelCache, number]>): ModelCache => ({
  layers: (picks[0]?.[0].layers ?? []).map((_, l) =>
    pickKvCacheRows(picks.map(([cache, row]) => [cache.layers[l] as LayerKvCache, row] as const)),
  ),
})

/** Positions held per sequence (the next token's position). */
export const cacheLengths = (cache: ModelCache): ReadonlyArray<number> => cache.layers[0]?.lengths ?? []

export interface ForwardOptions {
  /** Position of each sequence's first token (one number for all, or one per sequence). Default 0. */
  readonly startPos?: number | ReadonlyArray<number>
  /** Real tokens per sequence; the rest of its row is right padding. Default: all T. */
  readonly validLengths?: ReadonlyArray<number>
  /** KV caches to read and extend; without one the chunk attends only to itself (startPos must be 0). */
  readonly cache?: ModelCache
  /** "last" (default): [B, V] at each sequence's last valid token; "all": [B, T, V]. */
  readonly logits?: "last" | "all"
  /** Keep Routing: forced expert ids per MoE layer (in layer order), each [B·T·K], −1 = empty slot. */
  readonly forcedExperts?: ReadonlyArray<Int32Array>
  /** Weight α of the sequence-wise balance loss; when set, `balanceLoss` is returned. */
  readonly balanceAlpha?: number
  /**
   * Attention implementation: "auto" (fused when the native kernels are loaded; default: the process default,
   * `setDefaultAttentionPath`), "fused" or "reference". Only calls with a cache and top-k selection can be fused.
   */
  readonly attention?: AttentionPath
  /** Reference-path mode (forces the reference path): "auto" (MQA with a cache or for one token), "mha" or "mqa". */
  readonly attentionMode?: "auto" | "mha" | "mqa"
  /** "topk" (DSA, default) or "dense" (every causal key). */
  readonly selection?: "topk" | "dense"
  /** Return the indexer-loss inputs of every layer. */
  readonly indexerTraining?: boolean
  /** Return per-layer indexer selections and gate weights (parity checks, `ds forward`). */
  readonly capture?: boolean
}

export interface LayerCapture {
  /** Selected key positions [B, T, min(index_topk, E)] int32, −1 in empty slots. */
  readonly indices: tf.Tensor3D
  /** E: the key axis length the indices point into. */
  readonly keyCount: number
  /** Gate routing weights [B·T, n_routed_experts] (MoE layers only). */
  readonly denseWeights?: tf.Tensor2D
  /** Which attention ran: the fused DSA layer, the fused path's masked-dense choice, or the reference layer. */
  readonly path: LayerPath
}

/** The implementation one layer's attention ran on (docs/model.md §9). */
export type LayerPath = "dsa" | "dense" | "reference"

export interface ForwardResult {
  /** [B, V] ("last") or [B, T, V] ("all"). */
  readonly logits: tf.Tensor
  /** Chosen expert ids per MoE layer, [B·T·K] row-major, −1 for padding tokens. */
  readonly routing: ReadonlyArray<Int32Array>
  /** Tokens per expert per MoE layer, [E] each. */
  readonly expertLoad: ReadonlyArray<Int32Array>
  /** α · Σ over MoE layers of the sequence-wise balance loss (when `balanceAlpha` was given). */
  readonly balanceLoss?: tf.Scalar
  /** Per layer, when `capture` was set. */
  readonly layers?: ReadonlyArray<LayerCapture>
  /** Per layer, when `indexerTraining` was set. */
  readonly indexer?: ReadonlyArray<IndexerTrainingOutputs>
}

const param = (params: Parameters, name: string): tf.Tensor => {
  const p = params.get(name)
  if (p === undefined)
    throw new ShapeError({ argument: "parameters", expected: `a tensor named ${name}`, actual: "none" })
  return p
}

const swiGluAt = (params: Parameters, prefix: string): SwiGluWeights => ({
  w1: param(params, `${prefix}.w1.weight`),
  w2: param(params, `${prefix}.w2.weight`),
  w3: param(params, `${prefix}.w3.weight`),
})

const moeAt = (params: Parameters, config: ModelConfig, prefix: string): MoeWeights => ({
  gate: { weight: param(params, `${prefix}.gate.weight`), bias: param(params, `${prefix}.gate.bias`) },
  experts: Array.from({ length: config.n_routed_experts }, (_, e) => swiGluAt(params, `${prefix}.experts.${e}`)),
  ...(config.n_shared_experts > 0 ? { shared: swiGluAt(params, `${prefix}.shared_experts`) } : {}),
})

/** 1 for tokens t < validLengths[b], else 0: [B·T]. */
const validFlags = (
  batch: number,
  tokens: number,
  validLengths: ReadonlyArray<number> | undefined,
): Float32Array | undefined => {
  if (validLengths === undefined || validLengths.every((v) => v === tokens)) return undefined
  return Float32Array.from({ length: batch * tokens }, (_, i) =>
    i % tokens < (validLengths[Math.floor(i / tokens)] as number) ? 1 : 0,
  )
}

/** Rows b·T + validLengths[b] − 1 of h [B, T, D] → [B, D]. */
const lastValid = (h: tf.Tensor3D, validLengths: ReadonlyArray<number> | undefined): tf.Tensor2D => {
  const [batch, tokens, dim] = h.shape
  const rows = Int32Array.from({ length: batch }, (_, b) => b * tokens + Math.max(0, (validLengths?.[b] ?? tokens) - 1))
  return tf.gather(h.reshape([batch * tokens, dim]), tf.tensor1d(rows, "int32")) as tf.Tensor2D
}

const checkTokens = (tokens: tf.Tensor2D, config: ModelConfig, options: ForwardOptions): void => {
  if (tokens.rank !== 2 || tokens.dtype !== "int32")
    throw new ShapeError({ argument: "tokens", expected: "int32 [B, T]", actual: `${tokens.dtype} [${tokens.shape}]` })
  const moeLayers = config.n_layers - config.n_dense_layers
  if (options.forcedExperts !== undefined && options.forcedExperts.length !== moeLayers)
    throw new ShapeError({
      argument: "forcedExperts",
      expected: `${moeLayers} arrays (one per MoE layer)`,
      actual: String(options.forcedExperts.length),
    })
}

/** Keys the layer's attention runs over after this chunk's write: the longest held or new length. */
const keysAfterWrite = (cache: LayerKvCache, tokens: number, options: ForwardOptions): number => {
  const starts = options.startPos ?? 0
  const lengths = cache.lengths.map(
    (_, b) => (typeof starts === "number" ? starts : (starts[b] ?? 0)) + (options.validLengths?.[b] ?? tokens),
  )
  return Math.max(cache.host.extent, ...lengths)
}

/** Whether this call's attention runs the fused layer (see the file comment). */
const runsFused = (options: ForwardOptions): boolean =>
  options.cache !== undefined &&
  (options.selection ?? "topk") === "topk" &&
  options.indexerTraining !== true &&
  options.attentionMode === undefined &&
  resolveAttentionPath(options.attention) === "fused"

/** The layer path of a call: reference unless fused, then dense for a short chunk (prefersDense), else DSA. */
const layerPath = (config: ModelConfig, tokens: number, options: ForwardOptions, fused: boolean): LayerPath => {
  const cache = options.cache?.layers[0]
  if (!fused || cache === undefined) return "reference"
  return prefersDense(tokens, keysAfterWrite(cache, tokens, options), config.index_topk) ? "dense" : "dsa"
}

/** One block's attention on `path`, for the layer's cache. */
const blockAttention = (
  weights: AttentionWeights,
  config: ModelConfig,
  x: tf.Tensor3D,
  options: ForwardOptions,
  cache: LayerKvCache | undefined,
  path: LayerPath,
): AttentionLayerResult => {
  const positions = {
    ...(options.startPos === undefined ? {} : { startPos: options.startPos }),
    ...(options.validLengths === undefined ? {} : { validLengths: options.validLengths }),
  }
  if (path === "dsa" && cache !== undefined)
    return dsaAttentionLayer(weights, config, x, { cache: cache.host, ...positions })
  return attentionLayer(weights, config, x, {
    ...positions,
    ...(cache === undefined ? {} : { cache }),
    mode: path === "dense" ? "mha" : (options.attentionMode ?? "auto"),
    selection: options.selection ?? "topk",
    training: options.indexerTraining === true,
  })
}

/**
 * Runs the model on token ids [B, T] (int32). The caller disposes the returned tensors (`disposeForward`).
 * The cache, when given, is extended in place.
 */
export const forward = (model: Model, tokens: tf.Tensor2D, options: ForwardOptions = {}): ForwardResult => {
  const { config, params } = model
  checkTokens(tokens, config, options)
  const [batch, length] = tokens.shape
  const valid = validFlags(batch, length, options.validLengths)
  const routing: Array<Int32Array> = []
  const expertLoad: Array<Int32Array> = []
  const captures: Array<LayerCapture> = []
  const indexer: Array<IndexerTrainingOutputs> = []
  const balanceLosses: Array<tf.Scalar> = []
  const path = layerPath(config, length, options, runsFused(options))
  const logits = tf.tidy(() => {
    let h = tf.gather(param(params, "embed.weight"), tokens) as tf.Tensor3D // [B, T, dim]
    for (let l = 0; l < config.n_layers; l++) {
      const prefix = `layers.${l}`
      const attention = blockAttention(
        attentionWeightsFrom((name) => param(params, name), `${prefix}.attn.`, config),
        config,
        rmsNorm(h, param(params, `${prefix}.attn_norm.weight`)) as tf.Tensor3D,
        options,
        options.cache?.layers[l],
        path,
      )
      h = tf.add(h, attention.output) as tf.Tensor3D
      const trainingOutputs = attention.training
      if (trainingOutputs !== undefined) {
        indexer.push(trainingOutputs)
        tf.keep(trainingOutputs.scores)
        tf.keep(trainingOutputs.target)
        tf.keep(trainingOutputs.causal)
      }
      const f = rmsNorm(h, param(params, `${prefix}.ffn_norm.weight`)) as tf.Tensor3D
      let capturedWeights: tf.Tensor2D | undefined
      if (isMoeLayer(config, l)) {
        const forced = options.forcedExperts?.[routing.length]
        const out = moe(f, moeAt(params, config, `${prefix}.ffn`), config, {
          ...(forced === undefined ? {} : { forced }),
          ...(valid === undefined ? {} : { valid }),
          ...(options.balanceAlpha === undefined ? {} : { balanceAlpha: options.balanceAlpha }),
        })
        routing.push(out.indices)
        expertLoad.push(out.expertLoad)
        if (out.balanceLoss !== undefined) balanceLosses.push(tf.keep(out.balanceLoss))
        if (options.capture === true) capturedWeights = tf.keep(out.denseWeights)
        h = tf.add(h, out.output) as tf.Tensor3D
      } else {
        h = tf.add(h, swiGlu(f, swiGluAt(params, `${prefix}.ffn`))) as tf.Tensor3D
      }
      if (options.capture === true)
        captures.push({
          indices: tf.keep(attention.indices),
          keyCount: attention.keyCount,
          path,
          ...(capturedWeights === undefined ? {} : { denseWeights: capturedWeights }),
        })
    }
    const hidden = options.logits === "all" ? h : lastValid(h, options.validLengths)
    return linear(rmsNorm(hidden, param(params, "norm.weight")), param(params, "head.weight"))
  })
  const balanceLoss = balanceLosses.length === 0 ? undefined : (tf.tidy(() => tf.addN(balanceLosses)) as tf.Scalar)
  tf.dispose(balanceLosses)
  return {
    logits,
    routing,
    expertLoad,
    ...(balanceLoss === undefined ? {} : { balanceLoss }),
    ...(options.capture === true ? { layers: captures } : {}),
    ...(options.indexerTraining === true ? { indexer } : {}),
  }
}

/** Disposes every tensor of a forward result. */
export const disposeForward = (result: ForwardResult): void => {
  result.logits.dispose()
  result.balanceLoss?.dispose()
  for (const layer of result.layers ?? []) {
    layer.indices.dispose()
    layer.denseWeights?.dispose()
  }
  for (const t of result.indexer ?? []) tf.dispose([t.scores, t.target, t.causal])
}
