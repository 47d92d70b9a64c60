/**
 * @ds/attention — DeepSeek Sparse Attention for tfjs (docs/attention.md): RoPE/YaRN, MLA (MHA prefill, absorbed
 * MQA decode), the lightning indexer, exact top-k, sparse MLA attention with a custom gradient, a KV cache with
 * chunked prefill and uneven batches, the indexer losses, and the whole per-block attention layer.
 */
export {
  type AttentionConfig,
  checkAttentionConfig,
  indexerWeightScale,
  kvEntryDim,
  mlaSoftmaxScale,
  qkHeadDim,
  yarnEnabled,
  yarnMscale,
} from "./config.ts"
export { type DsaLayerOptions, type DsaLayerResult, dsaAttentionLayer } from "./fused/dsa-layer.ts"
export {
  createHostKvCache,
  type HostKvCache,
  hostCacheTensor,
  hostIndexKeys,
  hostKvRows,
  type IndexKeyFormat,
  packedKeyBytes,
  pickHostKvRows,
  writeHostKvCache,
  writeHostKvCacheArrays,
} from "./fused/host-kv-cache.ts"
export { type NativeKernelsReport, nativeFusedKernels, registerNativeAttentionKernels } from "./fused/kernels.ts"
export { type NativeAttentionKernels, nativeAttention, nativeAttentionReason } from "./fused/native.ts"
export {
  type FusedAttentionKernels,
  fusedAttentionKernels,
  registerFusedAttentionKernels,
  type SparseAttentionResult,
} from "./fused.ts"
export { indicesToMask, scatterToKeys } from "./index-mask.ts"
export { indexerHeadWeights, indexerKeys, indexerQueries, indexerScores, indexerScoresReference } from "./indexer.ts"
export { disposeAttentionWeights, randomAttentionWeights } from "./init.ts"
export {
  createKvCache,
  disposeKvCache,
  kvCacheOf,
  type LayerKvCache,
  pickKvCacheRows,
  writeKvCache,
} from "./kv-cache.ts"
export {
  type AttentionLayerOptions,
  type AttentionLayerResult,
  attentionLayer,
  type IndexerTrainingOutputs,
} from "./layer.ts"
export {
  type BatchLayout,
  batchLayout,
  causalMask,
  prefixMask,
  queryPositions,
  rowLengths,
  rowLengthValues,
} from "./layout.ts"
export { denseIndexerLoss, type IndexerLossOptions, sparseIndexerLoss } from "./losses.ts"
export { maskedSoftmax } from "./masked-softmax.ts"
export { absorbOutput, absorbQuery, type MlaProjection, mhaAttention, mlaOutput, mlaProject } from "./mla.ts"
export { layerNorm, normEps, rmsNorm } from "./norms.ts"
export { attentionRecall, attentionRecallRows } from "./recall.ts"
export { applyRope, type RopeLayout, type RopeTable, ropeFrequencies, ropeTable, yarnRampRange } from "./rope.ts"
export {
  denseMlaAttention,
  denseMlaAttentionWithProbs,
  scatterAddRows,
  sparseMlaAttention,
  sparseMlaAttentionReference,
} from "./sparse-attention.ts"
export { radixTopK, radixTopKRow, topkIndices, topkIndicesReference } from "./topk.ts"
export {
  type AbsorbedProjections,
  type AttentionWeights,
  absorbedProjections,
  attentionParameterNames,
  attentionWeightShapes,
  attentionWeightsFrom,
  checkAttentionWeights,
  disposeAbsorbedProjections,
  type IndexerWeights,
  type MlaWeights,
} from "./weights.ts"
