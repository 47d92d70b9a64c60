/**
 * Per-layer KV cache (docs/attention.md §8), in float32 and in the MQA-mode row layout:
 *
 *   kv        [B, E, kv_lora + R]   row s = [c_KV ; RoPE(k_rope)] of the token at position s (all heads share it)
 *   indexKeys [B, E, d_I]           row s = the indexer key of position s (LayerNorm + half-split RoPE applied)
 *   lengths   [B]                   positions 0 .. lengths[b] − 1 of sequence b are valid; rows past it are
 *                                   zero or stale and always masked out (layout.ts)
 *
 * Beyond the reference (which writes at a single start_pos for the whole batch and cannot prefill at
 * start_pos > 0): each sequence writes its own chunk at its own start position (chunked prefill, multi-token
 * decode, uneven batches with right padding); rows past a sequence's valid tokens are not written. A write may
 * start at or before the current length (re-writing rolls the sequence back), never after it (no gaps).
 * E grows to the longest sequence; it never exceeds `capacity` (default max_seq_len).
 *
 * Deviation: no FP8 storage (float32 rows); tensors are immutable in tfjs, so a write builds new cache tensors
 * (a copy of the cache, like a concat) and disposes the old ones.
 */
import { expectShape, InputError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { type AttentionConfig, kvEntryDim } from "./config.ts"
import type { BatchLayout } from "./layout.ts"

/** One layer's cache for a batch of sequences. Mutated by `writeKvCache`; dispose with `disposeKvCache`. */
export interface LayerKvCache {
  /** [B, E, kv_lora + R] */
  kv: tf.Tensor3D
  /** [B, E, d_I] */
  indexKeys: tf.Tensor3D
  /** Valid positions per sequence. */
  readonly lengths: Array<number>
  /** Most positions a sequence may hold. */
  readonly capacity: number
}

/** An empty cache for `batch` sequences of at most `capacity` positions (default config.max_seq_len). */
export const createKvCache = (config: AttentionConfig, batch: number, capacity = config.max_seq_len): LayerKvCache => ({
  kv: tf.keep(tf.zeros([batch, 0, kvEntryDim(config)])),
  indexKeys: tf.keep(tf.zeros([batch, 0, config.index_head_dim])),
  lengths: Array(batch).fill(0),
  capacity,
})

/** Releases the cache tensors. */
export const disposeKvCache = (cache: LayerKvCache): void => {
  cache.kv.dispose()
  cache.indexKeys.dispose()
}

/** old [E, D] with rows [start, start + n) replaced by rows [n, D] (grown with zeros to `length` rows). */
const writeRows = (old: tf.Tensor2D, rows: tf.Tensor2D, start: number, length: number): tf.Tensor2D => {
  const [have, width] = old.shape
  const grown = have < length ? tf.concat([old, tf.zeros([length - have, width])], 0) : old
  const n = rows.shape[0]
  if (n === 0) return grown as tf.Tensor2D
  const parts = [
    tf.slice(grown, [0, 0], [start, width]),
    rows,
    tf.slice(grown, [start + n, 0], [length - start - n, width]),
  ]
  return tf.concat(
    parts.filter((p) => p.shape[0] > 0),
    0,
  ) as tf.Tensor2D
}

/** The cache tensor with each sequence's valid new rows written at its start position. */
const writeTensor = (old: tf.Tensor3D, chunk: tf.Tensor3D, layout: BatchLayout, length: number): tf.Tensor3D =>
  tf.tidy(() => {
    const [batch, have] = old.shape
    const appendsEverywhere = layout.startPos.every((s, b) => s === have && layout.validLengths[b] === layout.tokens)
    if (appendsEverywhere) return tf.concat([old, chunk], 1) as tf.Tensor3D
    const sequences = Array.from({ length: batch }, (_, b) => {
      const rows = tf.slice(chunk, [b, 0, 0], [1, layout.validLengths[b] as number, -1]).squeeze([0]) as tf.Tensor2D
      return writeRows(
        tf.squeeze(tf.slice(old, [b, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D,
        rows,
        layout.startPos[b] as number,
        length,
      )
    })
    return tf.stack(sequences) as tf.Tensor3D
  })

/**
 * Writes the new tokens' rows into the cache: kv [B, T, kv_lora + R] and indexKeys [B, T, d_I], token t of
 * sequence b at position startPos[b] + t for t < validLengths[b]. Updates `lengths`. Throws InputError when a
 * write would leave a gap or exceed the capacity.
 */
export const writeKvCache = (
  cache: LayerKvCache,
  rows: { readonly kv: tf.Tensor3D; readonly indexKeys: tf.Tensor3D },
  layout: BatchLayout,
): void => {
  const [batch, , kvWidth] = cache.kv.shape
  expectShape("writeKvCache kv", rows.kv, [batch, layout.tokens, kvWidth])
  expectShape("writeKvCache indexKeys", rows.indexKeys, [batch, layout.tokens, cache.indexKeys.shape[2]])
  layout.startPos.forEach((start, b) => {
    const have = cache.lengths[b] as number
    if (start > have)
      throw new InputError({
        source: "startPos",
        reason: `sequence ${b} holds ${have} positions; writing at ${start} would leave a gap`,
      })
    if ((layout.keyLengths[b] as number) > cache.capacity)
      throw new InputError({
        source: "startPos",
        reason: `sequence ${b} would hold ${layout.keyLengths[b]} positions, over the cache capacity ${cache.capacity}`,
      })
  })
  const length = Math.max(cache.kv.shape[1], ...layout.keyLengths)
  const kv = tf.keep(writeTensor(cache.kv, rows.kv, layout, length))
  const indexKeys = tf.keep(writeTensor(cache.indexKeys, rows.indexKeys, layout, length))
  disposeKvCache(cache)
  cache.kv = kv
  cache.indexKeys = indexKeys
  layout.keyLengths.forEach((length, b) => {
    cache.lengths[b] = length
  })
}
