/**
 * Typed view of the native addon's `attention` module (native/src/attention*.c): DeepSeek Sparse Attention kernels
 * in C over zero-copy typed arrays (WebAssembly-heap views included), BLAS for the dense products.
 *
 * Shapes, one sequence per call (T tokens, H heads, W = kv_lora + rope row width, Dv value width, S keys,
 * HI index heads, DI index dim); every array is row-major and may be longer than needed:
 *
 *   indexer scores  I[t, s] = Σ_j w[t, j] · ReLU(q[t, j] · k[s])                    q [T, HI, DI] → scores [T, S]
 *   top-k           indices [rows, min(k, S)]: the k largest of row r's first rowLengths[r] scores, ascending,
 *                   ties to the lower index, −1 in empty slots (the same sets as @ds/attention's radixTopK)
 *   sparse MQA      out[t, h] = Σ_i softmax_i(scale · q[t, h] · kv[idx_i]) kv[idx_i, :Dv]  (−1 skipped), lse [T, H]
 *   dense MQA       the same over kv rows 0 .. rowLengths[t] − 1
 *   dense MHA       over up-projected keys/values, head-major: keysNope [H, keyStride, nope], values
 *                   [H, keyStride, Dv], keysRope [S, rope]; q [T, H, nope + rope]
 *   DSA             index scores + top-k + sparse MQA in one call (indexKeys float, or keys8 + keyScales)
 *   absorb          MQA-mode up-projections with Wkv_b [H·(nope + v), kv_lora]: q_abs = [q_nope · W_UK[h] ; q_rope],
 *                   o = o_lat · W_UV[h]ᵀ (all heads in one call)
 *   8-bit keys      packed: byte of (s, d) = ⌊s/16⌋·16·DI + ⌊d/4⌋·64 + (s mod 16)·4 + d mod 4; k ≈ k8 · keyScales[s]
 *
 * Every function checks sizes, lengths and indices (throwing TypeError/RangeError) and writes its outputs in place.
 */
import { loadNative, type NativeAddon } from "./addon.ts"

export interface IndexerScoresArgs {
  readonly q: Float32Array
  readonly weights: Float32Array
  readonly keys: Float32Array
  readonly tokens: number
  readonly heads: number
  readonly dim: number
  readonly keyCount: number
  /** Output [T, S]. */
  readonly scores: Float32Array
}

export interface IndexerScoresInt8Args extends Omit<IndexerScoresArgs, "keys"> {
  /** Packed 8-bit keys, ⌈S/16⌉·16·DI bytes. */
  readonly keys8: Int8Array
  /** One scale per key [S]. */
  readonly keyScales: Float32Array
}

export interface QuantizeKeysArgs {
  /** [rows, DI] float keys, quantised into keys first .. first + rows − 1 of the packed cache. */
  readonly keys: Float32Array
  readonly rows: number
  readonly dim: number
  readonly first: number
  readonly keys8: Int8Array
  readonly keyScales: Float32Array
}

export interface TopkArgs {
  /** [rows, S] */
  readonly scores: Float32Array
  readonly rows: number
  readonly keyCount: number
  /** [rows], each in 0 .. S */
  readonly rowLengths: Int32Array
  readonly k: number
  /** Output [rows, min(k, S)]. */
  readonly indices: Int32Array
}

export interface MqaShapeArgs {
  readonly tokens: number
  readonly heads: number
  /** Row width W of q and kv (kv_lora + rope). */
  readonly width: number
  /** Value width Dv: values are kv[..., :Dv]. */
  readonly valueDim: number
  readonly scale: number
  /** Rows S of kv. */
  readonly keyCount: number
  /** Output [T, H, Dv]. */
  readonly output: Float32Array
  /** Output [T, H]. */
  readonly lse: Float32Array
}

export interface SparseAttentionArgs extends MqaShapeArgs {
  /** [T, H, W] */
  readonly q: Float32Array
  /** [S, W] */
  readonly kv: Float32Array
  /** [T, k], −1 = empty slot, else < S. */
  readonly indices: Int32Array
  readonly k: number
}

export interface DenseMqaArgs extends MqaShapeArgs {
  readonly q: Float32Array
  readonly kv: Float32Array
  /** [T]: token t attends to kv rows 0 .. rowLengths[t] − 1. */
  readonly rowLengths: Int32Array
}

export interface DenseMhaArgs {
  /** [T, H, nope + rope] */
  readonly q: Float32Array
  /** [H, keyStride, nope] */
  readonly keysNope: Float32Array
  /** [H, keyStride, Dv] */
  readonly values: Float32Array
  /** [S, rope] */
  readonly keysRope: Float32Array
  readonly rowLengths: Int32Array
  readonly tokens: number
  readonly heads: number
  readonly nope: number
  readonly rope: number
  readonly valueDim: number
  readonly keyCount: number
  readonly keyStride: number
  readonly scale: number
  readonly output: Float32Array
  readonly lse: Float32Array
}

export interface DsaArgs extends MqaShapeArgs {
  /** Absorbed queries [T, H, W]. */
  readonly q: Float32Array
  /** Indexer queries [T, HI, DI] and head weights [T, HI]. */
  readonly indexQ: Float32Array
  readonly indexWeights: Float32Array
  /** [S, W] */
  readonly kv: Float32Array
  /** Float index keys [S, DI]; or keys8 + keyScales (packed 8-bit). */
  readonly indexKeys?: Float32Array
  readonly keys8?: Int8Array
  readonly keyScales?: Float32Array
  /** [T]: causal prefix of each token (top-k runs over it). */
  readonly rowLengths: Int32Array
  readonly indexHeads: number
  readonly indexDim: number
  readonly topk: number
  /** Output [T, min(topk, S)]. */
  readonly indices: Int32Array
}

export interface AbsorbArgs {
  readonly tokens: number
  readonly heads: number
  readonly nope: number
  readonly rope: number
  readonly valueDim: number
  readonly kvLora: number
  /** Wkv_b in the reference layout [H · (nope + v), kv_lora]: W_UK[h] then W_UV[h] per head. */
  readonly wkvB: Float32Array
}

export interface AbsorbQueryArgs extends AbsorbArgs {
  /** [T, H, nope + rope] */
  readonly q: Float32Array
  /** Output [T, H, kv_lora + rope]: [q_nope · W_UK[h] ; q_rope]. */
  readonly output: Float32Array
}

export interface AbsorbOutputArgs extends AbsorbArgs {
  /** [T, H, kv_lora] */
  readonly latent: Float32Array
  /** Output [T, H, v]: latent · W_UV[h]ᵀ. */
  readonly output: Float32Array
}

/** The attention module's functions, as the addon exports them. */
export interface NativeAttention {
  /** The 8-bit indexer's instruction path now (the environment variable DS_ATTENTION_ISA=avx2|scalar caps it). */
  readonly attentionInfo: () => { readonly int8Indexer: "avx512-vnni" | "avx2" | "scalar" }
  readonly attentionIndexerScores: (args: IndexerScoresArgs) => void
  readonly attentionIndexerScoresInt8: (args: IndexerScoresInt8Args) => void
  readonly attentionQuantizeKeys: (args: QuantizeKeysArgs) => void
  readonly attentionTopk: (args: TopkArgs) => void
  readonly attentionSparse: (args: SparseAttentionArgs) => void
  readonly attentionDenseMqa: (args: DenseMqaArgs) => void
  readonly attentionDenseMha: (args: DenseMhaArgs) => void
  readonly attentionDsa: (args: DsaArgs) => void
  readonly attentionAbsorbQuery: (args: AbsorbQueryArgs) => void
  readonly attentionAbsorbOutput: (args: AbsorbOutputArgs) => void
}

/** The attention kernels together with the rest of the addon (its BLAS: sgemm, sgemmBatched, threads). */
export type NativeAttentionAddon = NativeAttention & NativeAddon

/** The attention kernels and BLAS of the loaded addon, or why they are not available (one line). */
export type NativeAttentionLoad =
  | { readonly attention: NativeAttentionAddon; readonly reason?: undefined }
  | { readonly attention?: undefined; readonly reason: string }

const hasAttention = (addon: NativeAddon): addon is NativeAttentionAddon =>
  addon.modules.includes("attention") && typeof (addon as Partial<NativeAttention>).attentionDsa === "function"

/** The addon's attention module when it is built in (the addon itself loads once, see addon.ts). */
export const loadNativeAttention = (): NativeAttentionLoad => {
  const { addon, reason } = loadNative()
  if (addon === undefined) return { reason }
  if (!hasAttention(addon))
    return {
      reason: "the native addon was built without its attention module (rebuild: pnpm --filter @ds/core build:native)",
    }
  return { attention: addon }
}
