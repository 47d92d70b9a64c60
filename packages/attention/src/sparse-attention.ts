/**
 * Sparse MLA attention in MQA mode (docs/attention.md §6; FlashMLA `flash_mla_sparse_fwd`, TileLang `sparse_mla_fwd`).
 * Per query t, head h, over the selected rows S_t = indices[t, :] (−1 = empty slot, skipped):
 *
 *   c_i        = kv[S_t[i]]                        one gathered row [c_KV ; k_rope] (Dk dims) serves every head
 *   z[h, i]    = scale · q[h] · c_i
 *   lse[h]     = log Σ_i exp z[h, i]                p[h, i] = exp(z[h, i] − lse[h])
 *   out[h]     = Σ_i p[h, i] · c_i[:Dv]             values are the first Dv = kv_lora_rank dims of the row
 *
 * Gradient (custom, recomputes the gather; g = ∂L/∂out, γ = ∂L/∂lse):
 *   ∂z = p ⊙ (g·c[:Dv]ᵀ − Σ_i p·(g·c[:Dv]ᵀ) + γ)     ∂q = scale · ∂z · c
 *   ∂c_i = scale · Σ_h ∂z[h, i] q[h] + [Σ_h p[h, i] g[h] ; 0]       scattered back: ∂kv[S_t[i]] += ∂c_i
 * The scatter is an UnsortedSegmentSum where the backend has one, else a ScatterNd (which sums duplicates), so the
 * gather's own gradient (UnsortedSegmentSum, absent from stock wasm) is never needed.
 *
 * `denseMlaAttention` is the reference it must equal when the indices cover the allowed set: the same formula
 * over every key with a boolean mask, plain tfjs ops, differentiable by tfjs itself.
 * A row with no valid index gives out = 0, lse = −∞.
 */
import { dimOf, expectDtype, expectShape, ShapeError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { fusedAttentionKernels, type SparseAttentionResult } from "./fused.ts"
import { maskedSoftmax } from "./masked-softmax.ts"

export type { SparseAttentionResult } from "./fused.ts"

interface Gathered {
  /** [B·T, K, Dk] the selected rows (row 0 of the sequence for empty slots) */
  readonly rows: tf.Tensor3D
  /** [B·T, 1, K] bool: slot holds a real index */
  readonly valid: tf.Tensor3D
  /** [B·T·K] int32: row of the flattened [B·S, Dk] kv each slot reads */
  readonly flat: tf.Tensor1D
}

/** Gathers kv[b, indices[b, t, i]] into [B·T, K, Dk] through one flat gather over [B·S, Dk]. */
const gatherSelected = (kv: tf.Tensor3D, indices: tf.Tensor3D): Gathered => {
  const [batch, keys, width] = kv.shape
  const [, tokens, k] = indices.shape
  const valid = tf.greaterEqual(indices, 0)
  const offsets = tf.range(0, batch * keys, keys, "int32").reshape([batch, 1, 1])
  const flat = tf.add(tf.maximum(indices, tf.scalar(0, "int32")), offsets).reshape([batch * tokens * k]) as tf.Tensor1D
  const rows = tf.gather(kv.reshape([batch * keys, width]), flat).reshape([batch * tokens, k, width]) as tf.Tensor3D
  return { rows, valid: valid.reshape([batch * tokens, 1, k]) as tf.Tensor3D, flat }
}

/** Forward over gathered rows: probabilities [B·T, H, K], out [B·T, H, Dv], lse [B·T, H]. */
const attendGathered = (q: tf.Tensor4D, gathered: Gathered, scale: number, valueDim: number) => {
  const [batch, tokens, heads, width] = q.shape
  const logits = tf.mul(tf.matMul(q.reshape([batch * tokens, heads, width]), gathered.rows, false, true), scale)
  const { probs, lse } = maskedSoftmax(logits, gathered.valid)
  const values = tf.slice(gathered.rows, [0, 0, 0], [-1, -1, valueDim])
  return { probs: probs as tf.Tensor3D, output: tf.matMul(probs as tf.Tensor3D, values), lse }
}

/** Adds update rows [N, D] into a zero [rows, D] at the given row indices [N] (duplicates summed). */
export const scatterAddRows = (updates: tf.Tensor2D, rowIndices: tf.Tensor1D, rows: number): tf.Tensor2D =>
  tf.tidy(() => {
    if (tf.getKernel("UnsortedSegmentSum", tf.getBackend()) !== undefined)
      return tf.unsortedSegmentSum(updates, rowIndices, rows) as tf.Tensor2D
    return tf.scatterND(rowIndices.reshape([-1, 1]), updates, [rows, dimOf(updates, 1)]) as tf.Tensor2D
  })

const checkArguments = (name: string, q: tf.Tensor4D, kv: tf.Tensor3D, valueDim: number): void => {
  expectShape(`${name} q`, q, [null, null, null, null])
  expectShape(`${name} kv`, kv, [dimOf(q, 0), null, dimOf(q, 3)])
  if (!Number.isInteger(valueDim) || valueDim < 1 || valueDim > dimOf(kv, 2))
    throw new ShapeError({
      argument: `${name} valueDim`,
      expected: `an integer in 1..${dimOf(kv, 2)}`,
      actual: String(valueDim),
    })
}

/** The plain-tfjs sparse attention (forward only): gathers only the selected rows. */
export const sparseMlaAttentionReference = (
  q: tf.Tensor4D,
  kv: tf.Tensor3D,
  indices: tf.Tensor3D,
  scale: number,
  valueDim: number,
): SparseAttentionResult =>
  tf.tidy(() => {
    const [batch, tokens, heads] = q.shape
    const { output, lse } = attendGathered(q, gatherSelected(kv, indices), scale, valueDim)
    return {
      output: output.reshape([batch, tokens, heads, valueDim]) as tf.Tensor4D,
      lse: lse.reshape([batch, tokens, heads]) as tf.Tensor3D,
    }
  })

/** Backward of the sparse attention for packed upstream gradient dy = [∂out | ∂lse]: [B, T, H, Dv + 1]. */
const sparseBackward = (
  q: tf.Tensor4D,
  kv: tf.Tensor3D,
  indices: tf.Tensor3D,
  scale: number,
  valueDim: number,
  dy: tf.Tensor,
) => {
  const [batch, tokens, heads, width] = q.shape
  const keys = dimOf(kv, 1)
  const gathered = gatherSelected(kv, indices)
  const { probs } = attendGathered(q, gathered, scale, valueDim)
  const rows = batch * tokens
  const dOut = tf.slice(dy, [0, 0, 0, 0], [-1, -1, -1, valueDim]).reshape([rows, heads, valueDim]) as tf.Tensor3D
  const dLse = tf.slice(dy, [0, 0, 0, valueDim], [-1, -1, -1, 1]).reshape([rows, heads, 1])
  const values = tf.slice(gathered.rows, [0, 0, 0], [-1, -1, valueDim]) as tf.Tensor3D
  const dProbs = tf.matMul(dOut, values, false, true)
  const dLogits = tf.mul(probs, tf.add(tf.sub(dProbs, tf.sum(tf.mul(probs, dProbs), -1, true)), dLse)) as tf.Tensor3D
  const qRows = q.reshape([rows, heads, width]) as tf.Tensor3D
  const dq = tf.mul(tf.matMul(dLogits, gathered.rows), scale).reshape(q.shape)
  const dValues = tf.matMul(probs, dOut, true, false)
  const dRows = tf.add(
    tf.mul(tf.matMul(dLogits, qRows, true, false), scale),
    tf.pad(dValues, [
      [0, 0],
      [0, 0],
      [0, width - valueDim],
    ]),
  )
  const k = dimOf(indices, 2)
  const dkv = scatterAddRows(dRows.reshape([rows * k, width]) as tf.Tensor2D, gathered.flat, batch * keys).reshape(
    kv.shape,
  )
  return [dq, dkv, tf.zeros(indices.shape, "float32")]
}

/**
 * Sparse MLA attention (fast kernel when registered, else the reference), differentiable in q and kv.
 * q: [B, T, H, Dk]; kv: [B, S, Dk] (Dk = kv_lora_rank + rope); indices: int32 [B, T, K] into kv's rows, −1 = empty;
 * values are kv[..., :valueDim]. Returns output [B, T, H, valueDim] and lse [B, T, H].
 */
export const sparseMlaAttention = (
  q: tf.Tensor4D,
  kv: tf.Tensor3D,
  indices: tf.Tensor3D,
  scale: number,
  valueDim: number,
): SparseAttentionResult => {
  checkArguments("sparseMlaAttention", q, kv, valueDim)
  expectShape("sparseMlaAttention indices", indices, [dimOf(q, 0), dimOf(q, 1), null])
  expectDtype("sparseMlaAttention indices", indices, "int32")
  const [batch, tokens, heads] = q.shape
  const packed = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [q4, kv3, idx, save] = args as [tf.Tensor4D, tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc]
    save([q4, kv3, idx])
    const result =
      fusedAttentionKernels().sparseAttention?.(q4, kv3, idx, scale, valueDim) ??
      sparseMlaAttentionReference(q4, kv3, idx, scale, valueDim)
    return {
      value: tf.concat([result.output, tf.expandDims(result.lse, -1)], -1),
      gradFunc: (dy: tf.Tensor, saved: Array<tf.Tensor>) => {
        const [sq, skv, sidx] = saved as [tf.Tensor4D, tf.Tensor3D, tf.Tensor3D]
        return sparseBackward(sq, skv, sidx, scale, valueDim, dy)
      },
    }
  })(q, kv, indices)
  return tf.tidy(() => ({
    output: tf.slice(packed, [0, 0, 0, 0], [-1, -1, -1, valueDim]) as tf.Tensor4D,
    lse: tf.slice(packed, [0, 0, 0, valueDim], [-1, -1, -1, 1]).reshape([batch, tokens, heads]) as tf.Tensor3D,
  }))
}

/**
 * Dense MQA-mode attention with a key mask, also returning the probabilities [B, T, H, S] (zero where not allowed).
 * q: [B, T, H, Dk]; kv: [B, S, Dk]; allowed: bool [B, T, S].
 */
export const denseMlaAttentionWithProbs = (
  q: tf.Tensor4D,
  kv: tf.Tensor3D,
  allowed: tf.Tensor3D,
  scale: number,
  valueDim: number,
): SparseAttentionResult & { readonly probs: tf.Tensor4D } => {
  checkArguments("denseMlaAttention", q, kv, valueDim)
  expectShape("denseMlaAttention allowed", allowed, [dimOf(q, 0), dimOf(q, 1), dimOf(kv, 1)])
  return tf.tidy(() => {
    const [batch, tokens, heads, width] = q.shape
    const keys = dimOf(kv, 1)
    const logits = tf
      .mul(tf.matMul(q.reshape([batch, tokens * heads, width]), kv, false, true), scale)
      .reshape([batch, tokens, heads, keys])
    const { probs, lse } = maskedSoftmax(logits, tf.expandDims(allowed, 2))
    const values = tf.slice(kv, [0, 0, 0], [-1, -1, valueDim])
    const output = tf
      .matMul(probs.reshape([batch, tokens * heads, keys]), values)
      .reshape([batch, tokens, heads, valueDim])
    return { output: output as tf.Tensor4D, lse: lse as tf.Tensor3D, probs: probs as tf.Tensor4D }
  })
}

/**
 * Dense MQA-mode attention with a key mask — the reference sparse attention must equal (plain ops, differentiable).
 * q: [B, T, H, Dk]; kv: [B, S, Dk]; allowed: bool [B, T, S]. Returns output [B, T, H, valueDim], lse [B, T, H].
 */
export const denseMlaAttention = (
  q: tf.Tensor4D,
  kv: tf.Tensor3D,
  allowed: tf.Tensor3D,
  scale: number,
  valueDim: number,
): SparseAttentionResult => {
  const { output, lse, probs } = denseMlaAttentionWithProbs(q, kv, allowed, scale, valueDim)
  probs.dispose()
  return { output, lse }
}
