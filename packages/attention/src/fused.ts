/**
 * Slots for fast implementations of the hot kernels (issue 3 item 8: native or registered kernels), behind the
 * plain-tfjs references that define correctness (STYLE.md "a kernel has a reference and, optionally, a fast path").
 *
 *   export const sparseMlaAttention = (...) => fused().sparseAttention?.(...) ?? reference(...)
 *
 * A fast kernel returns `undefined` to decline a call (another backend, a shape it does not cover); the reference
 * then runs. Fast kernels are forward-only: gradients always come from the reference formulas. A test must hold
 * each registered kernel equal to its reference on random shapes, odd sizes and −1 indices.
 */
import type * as tf from "@tensorflow/tfjs"

/** Output of MQA-mode attention: per-head latent output and log-sum-exp of the logits. */
export interface SparseAttentionResult {
  /** [B, T, H, valueDim] */
  readonly output: tf.Tensor4D
  /** [B, T, H]; −∞ for a row with no valid index. */
  readonly lse: tf.Tensor3D
}

/** The kernels a fast path may provide; every field is optional. Arguments are those of the public functions. */
export interface FusedAttentionKernels {
  /** `sparseMlaAttention(q [B,T,H,Dk], kv [B,S,Dk], indices [B,T,K] int32, scale, valueDim)`. */
  readonly sparseAttention?: (
    q: tf.Tensor4D,
    kv: tf.Tensor3D,
    indices: tf.Tensor3D,
    scale: number,
    valueDim: number,
  ) => SparseAttentionResult | undefined
  /** `indexerScores(q [B,T,H_I,d_I], weights [B,T,H_I], keys [B,S,d_I]) -> [B,T,S]`. */
  readonly indexerScores?: (q: tf.Tensor4D, weights: tf.Tensor3D, keys: tf.Tensor3D) => tf.Tensor3D | undefined
  /** `topkIndices(scores [B,T,S], rowLengths [B,T] int32, k) -> [B,T,min(k,S)] int32, −1 = empty`. */
  readonly topk?: (scores: tf.Tensor3D, rowLengths: tf.Tensor2D, k: number) => tf.Tensor3D | undefined
}

let registered: FusedAttentionKernels = {}

/** Installs fast kernels (replacing any installed before). `{}` restores the pure references. */
export const registerFusedAttentionKernels = (kernels: FusedAttentionKernels): void => {
  registered = kernels
}

/** The fast kernels installed now (fields absent where only the reference exists). */
export const fusedAttentionKernels = (): FusedAttentionKernels => registered
