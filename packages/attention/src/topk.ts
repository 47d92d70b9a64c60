/**
 * Exact top-k selection per query over its causal prefix (docs/attention.md §4; TileLang `topk_selector`).
 *
 *   S_t = the k largest of scores[t, 0 .. n_t − 1],   n_t = rowLength[t] = min(pos_t + 1, keys)
 *   output row: the indices of S_t (any order), then −1 in the min(k, S) − min(k, n_t) empty slots
 *
 * Every query with n_t ≤ k attends densely to its whole prefix, as the reference does (its causal −inf entries
 * are picked and then masked again). Ties are broken towards the lower index.
 *
 * Two implementations:
 * - `topkIndices` (tensors): tf.topk over the scores with −inf past each row's prefix — a selection kernel
 *   (partial sort) on wasm/cpu, not a full sort. This is the reference.
 * - `radixTopK` (Float32Array rows): a 3-pass radix select (11/11/10-bit digits of the order-preserving uint32
 *   image of each float) that finds the k-th largest key exactly, then one collecting pass: O(n) per row, for
 *   fast paths that hold scores in JS memory (131072 keys, k = 2048 in about a millisecond).
 */
import { dimOf, expectDtype, expectShape, InputError, nonDifferentiable } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { fusedAttentionKernels } from "./fused.ts"

const checkK = (k: number): void => {
  if (!Number.isInteger(k) || k < 1)
    throw new InputError({ source: "topk k", reason: `must be an integer >= 1, got ${k}` })
}

/** Reference top-k: scores [B,T,S] float32, rowLengths [B,T] int32 → [B,T,min(k,S)] int32 (−1 = empty slot). */
export const topkIndicesReference = (scores: tf.Tensor3D, lengths: tf.Tensor2D, k: number): tf.Tensor3D =>
  tf.tidy(() => {
    const keyCount = dimOf(scores, 2)
    const width = Math.min(k, keyCount)
    const inPrefix = tf.less(tf.range(0, keyCount, 1, "int32"), tf.expandDims(lengths, -1))
    const masked = tf.where(inPrefix, scores, tf.fill(scores.shape, Number.NEGATIVE_INFINITY))
    const { indices } = tf.topk(masked, width, true)
    return tf.where(
      tf.less(indices, tf.expandDims(lengths, -1)),
      indices,
      tf.fill(indices.shape, -1, "int32"),
    ) as tf.Tensor3D
  })

/**
 * The top-k key indices of every query row (a fast kernel when one is registered, else the reference).
 * scores: [B, T, S]; rowLengths: int32 [B, T], each ≤ S; returns int32 [B, T, min(k, S)], −1 in empty slots.
 * Zero gradient into the scores (selection is not differentiable).
 */
export const topkIndices = (scores: tf.Tensor3D, lengths: tf.Tensor2D, k: number): tf.Tensor3D => {
  checkK(k)
  expectShape("topkIndices rowLengths", lengths, [dimOf(scores, 0), dimOf(scores, 1)])
  expectDtype("topkIndices rowLengths", lengths, "int32")
  return nonDifferentiable(
    (s, l) =>
      fusedAttentionKernels().topk?.(s as tf.Tensor3D, l as tf.Tensor2D, k) ??
      topkIndicesReference(s as tf.Tensor3D, l as tf.Tensor2D, k),
    scores,
    lengths,
  )
}

/** Order-preserving uint32 image of a float32 bit pattern: a < b ⇔ key(a) < key(b) (NaN aside). */
const orderedKey = (bits: number): number => (bits & 0x80000000 ? ~bits : bits | 0x80000000) >>> 0

const digitPasses = [
  { shift: 21, mask: 0x7ff },
  { shift: 10, mask: 0x7ff },
  { shift: 0, mask: 0x3ff },
] as const

/** Reusable scratch space for radix selection (grown on demand). */
interface RadixScratch {
  keys: Uint32Array
  candidates: Int32Array
  readonly histogram: Uint32Array
}

const scratch: RadixScratch = {
  keys: new Uint32Array(0),
  candidates: new Int32Array(0),
  histogram: new Uint32Array(2048),
}

const ensureScratch = (n: number): void => {
  if (scratch.keys.length < n) {
    scratch.keys = new Uint32Array(n)
    scratch.candidates = new Int32Array(n)
  }
}

/**
 * Finds the k-th largest key among keys[candidates] and how many keys equal to it belong to the top k
 * (k ≤ count). Narrows `candidates` in place digit by digit.
 */
const kthLargestKey = (count: number, k: number): { readonly threshold: number; readonly takeEqual: number } => {
  const { keys, candidates, histogram } = scratch
  let remaining = count
  let need = k
  let prefix = 0
  for (const { shift, mask } of digitPasses) {
    histogram.fill(0)
    for (let c = 0; c < remaining; c++) histogram[(keys[candidates[c] as number]! >>> shift) & mask]!++
    let digit = mask
    for (; digit > 0 && histogram[digit]! < need; digit--) need -= histogram[digit]!
    prefix = (prefix | (digit << shift)) >>> 0
    let kept = 0
    for (let c = 0; c < remaining; c++) {
      const index = candidates[c]!
      if (((keys[index]! >>> shift) & mask) === digit) candidates[kept++] = index
    }
    remaining = kept
  }
  return { threshold: prefix, takeEqual: need }
}

/**
 * Exact top-k of one row by radix select: writes the indices of the k largest of row[0..n−1] (any order; ties
 * to the lower index) into out[offset..offset+width−1], −1 after them when n < width. Requires k ≤ width.
 */
export const radixTopKRow = (
  row: Float32Array,
  n: number,
  k: number,
  out: Int32Array,
  offset: number,
  width: number,
): void => {
  const take = Math.min(k, n)
  if (take === n) {
    for (let i = 0; i < width; i++) out[offset + i] = i < n ? i : -1
    return
  }
  ensureScratch(n)
  const bits = new Uint32Array(row.buffer, row.byteOffset, n)
  for (let i = 0; i < n; i++) {
    scratch.keys[i] = orderedKey(bits[i]!)
    scratch.candidates[i] = i
  }
  const { threshold, takeEqual } = kthLargestKey(n, take)
  let written = 0
  let equalLeft = takeEqual
  for (let i = 0; i < n; i++) {
    const key = scratch.keys[i]!
    if (key > threshold || (key === threshold && equalLeft-- > 0)) out[offset + written++] = i
  }
  for (; written < width; written++) out[offset + written] = -1
}

/**
 * Exact top-k of many rows held in JS memory: scores [rows × S] row-major, rowLengths [rows] (each ≤ S).
 * Returns [rows × min(k, S)] indices, −1 in empty slots — the same sets as `topkIndicesReference`.
 */
export const radixTopK = (scores: Float32Array, keyCount: number, lengths: Int32Array, k: number): Int32Array => {
  checkK(k)
  if (scores.length !== lengths.length * keyCount)
    throw new InputError({
      source: "radixTopK scores",
      reason: `expected ${lengths.length} rows of ${keyCount}, got ${scores.length} values`,
    })
  const width = Math.min(k, keyCount)
  const out = new Int32Array(lengths.length * width)
  for (let r = 0; r < lengths.length; r++) {
    const n = lengths[r]!
    if (n > keyCount)
      throw new InputError({ source: "radixTopK rowLengths", reason: `row ${r} length ${n} exceeds ${keyCount} keys` })
    radixTopKRow(scores.subarray(r * keyCount, (r + 1) * keyCount), n, width, out, r * width, width)
  }
  return out
}
