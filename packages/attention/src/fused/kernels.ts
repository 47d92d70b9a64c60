/**
 * Native fast paths for the three hot kernels of @ds/attention (issue 3 item 8), installed through
 * `registerFusedAttentionKernels` (fused.ts). Each equals its plain-tfjs reference (tests: fused-kernels.test.ts):
 *
 *   indexerScores   I[b, t, s] = Σ_j w[b, t, j] · ReLU(q[b, t, j] · k[b, s])          (indexer.ts)
 *                   → C: one sgemm per block of keys, ReLU-weighted reduction while the block is in cache
 *   topk            exact top-min(k, S) per row over its causal prefix, −1 = empty            (topk.ts)
 *                   → C: radix select (ties to the lower index), indices in ascending order (a set, like the reference)
 *   sparseAttention out[b, t, h] = Σ_i softmax_i(scale · q[b, t, h] · kv[b, idx_i]) kv[b, idx_i, :Dv], lse
 *                   → C: the selected rows gathered once per token and shared by every head, two sgemms
 *                                                                                    (sparse-attention.ts)
 * Forward only: gradients still come from the reference formulas (sparseMlaAttention's custom gradient; the
 * reference indexer is used whenever `differentiable` is set). Tensors are read in place (tensor-arrays.ts) on the
 * wasm and cpu backends; elsewhere (tensorflow) every kernel declines by returning undefined.
 */
import type * as tf from "@tensorflow/tfjs"
import { type FusedAttentionKernels, registerFusedAttentionKernels } from "../fused.ts"
import { type NativeAttentionKernels, nativeAttention, nativeAttentionReason } from "./native.ts"
import { arraysAvailable, withTensorArrays } from "./tensor-arrays.ts"

const indexerScoresKernel =
  (native: NativeAttentionKernels) =>
  (q: tf.Tensor4D, weights: tf.Tensor3D, keys: tf.Tensor3D): tf.Tensor3D | undefined => {
    const [batch, tokens, heads, dim] = q.shape
    const keyCount = keys.shape[1]
    if (heads === 0 || dim === 0) return undefined
    const result = withTensorArrays(
      [q, weights, keys],
      [{ shape: [batch, tokens, keyCount], dtype: "float32" }],
      ([qa, wa, ka], [scores]) => {
        for (let b = 0; b < batch; b++)
          native.attentionIndexerScores({
            q: (qa as Float32Array).subarray(b * tokens * heads * dim, (b + 1) * tokens * heads * dim),
            weights: (wa as Float32Array).subarray(b * tokens * heads, (b + 1) * tokens * heads),
            keys: (ka as Float32Array).subarray(b * keyCount * dim, (b + 1) * keyCount * dim),
            tokens,
            heads,
            dim,
            keyCount,
            scores: (scores as Float32Array).subarray(b * tokens * keyCount, (b + 1) * tokens * keyCount),
          })
      },
    )
    return result?.[0] as tf.Tensor3D | undefined
  }

const topkKernel =
  (native: NativeAttentionKernels) =>
  (scores: tf.Tensor3D, lengths: tf.Tensor2D, k: number): tf.Tensor3D | undefined => {
    const [batch, tokens, keyCount] = scores.shape
    const width = Math.min(k, keyCount)
    const result = withTensorArrays(
      [scores, lengths],
      [{ shape: [batch, tokens, width], dtype: "int32" }],
      ([sa, la], [indices]) =>
        native.attentionTopk({
          scores: sa as Float32Array,
          rows: batch * tokens,
          keyCount,
          rowLengths: la as Int32Array,
          k,
          indices: indices as Int32Array,
        }),
    )
    return result?.[0] as tf.Tensor3D | undefined
  }

const sparseAttentionKernel =
  (native: NativeAttentionKernels) =>
  (q: tf.Tensor4D, kv: tf.Tensor3D, indices: tf.Tensor3D, scale: number, valueDim: number) => {
    const [batch, tokens, heads, width] = q.shape
    const keyCount = kv.shape[1]
    const k = indices.shape[2]
    if (heads === 0 || width === 0) return undefined
    const result = withTensorArrays(
      [q, kv, indices],
      [
        { shape: [batch, tokens, heads, valueDim], dtype: "float32" },
        { shape: [batch, tokens, heads], dtype: "float32" },
      ],
      ([qa, kva, ia], [output, lse]) => {
        const rows = tokens * heads
        for (let b = 0; b < batch; b++)
          native.attentionSparse({
            q: (qa as Float32Array).subarray(b * rows * width, (b + 1) * rows * width),
            kv: (kva as Float32Array).subarray(b * keyCount * width, (b + 1) * keyCount * width),
            indices: (ia as Int32Array).subarray(b * tokens * k, (b + 1) * tokens * k),
            tokens,
            heads,
            width,
            valueDim,
            scale,
            keyCount,
            k,
            output: (output as Float32Array).subarray(b * rows * valueDim, (b + 1) * rows * valueDim),
            lse: (lse as Float32Array).subarray(b * rows, (b + 1) * rows),
          })
      },
    )
    if (result === undefined) return undefined
    return { output: result[0] as tf.Tensor4D, lse: result[1] as tf.Tensor3D }
  }

/** The native fused kernels, or undefined when the addon's attention module is not available. */
export const nativeFusedKernels = (): FusedAttentionKernels | undefined => {
  const native = nativeAttention()
  if (native === undefined) return undefined
  const onArrays =
    <A extends Array<unknown>, R>(kernel: (...args: A) => R | undefined) =>
    (...args: A): R | undefined =>
      arraysAvailable() ? kernel(...args) : undefined
  return {
    indexerScores: onArrays(indexerScoresKernel(native)),
    topk: onArrays(topkKernel(native)),
    sparseAttention: onArrays(sparseAttentionKernel(native)),
  }
}

/** What `registerNativeAttentionKernels` installed. */
export type NativeKernelsReport =
  | { readonly native: true; readonly kernels: ReadonlyArray<keyof FusedAttentionKernels> }
  | { readonly native: false; readonly reason: string }

/**
 * Installs the native kernels as the fast paths of indexerScores, topkIndices and sparseMlaAttention when the
 * addon's attention module is available (they serve the wasm and cpu backends and decline elsewhere); otherwise
 * leaves the references in place and says why. Call after `initBackend`; `registerFusedAttentionKernels({})`
 * restores the references.
 */
export const registerNativeAttentionKernels = (): NativeKernelsReport => {
  const kernels = nativeFusedKernels()
  if (kernels === undefined) return { native: false, reason: nativeAttentionReason() ?? "native kernels unavailable" }
  registerFusedAttentionKernels(kernels)
  return { native: true, kernels: ["indexerScores", "topk", "sparseAttention"] }
}
