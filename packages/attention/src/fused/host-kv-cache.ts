/**
 * Host-memory KV cache for the fused DSA path (docs/attention.md §8): preallocated typed arrays with a fixed capacity,
 * written IN PLACE — O(T · row) per step, where a cache of tfjs tensors must build new tensors (O(E · row) per
 * step, tfjs tensors being immutable). It is also the store of the reference path's cache (kv-cache.ts). Rules:
 *
 *   kv        [B, capacity, kv_lora + R]   row s = [c_KV ; RoPE(k_rope)] of position s
 *   indexKeys [B, capacity, d_I]           the indexer key of position s        (format "float32")
 *   keys8     [B, ⌈capacity/16⌉·16·d_I]    the same, symmetric int8, packed     (format "int8")
 *   keyScales [B, capacity]                k ≈ k8 · scale, one scale per key    (format "int8")
 *   lengths   [B]                          positions 0 .. lengths[b] − 1 are valid
 *   extent                                 the key axis E the attention runs over: the longest length ever
 *                                          written (rows past a sequence's length are masked), as kv-cache.ts
 *
 * Sequence b writes its valid new tokens at startPos[b] .. startPos[b] + valid[b] − 1: chunked prefill, multi-token
 * decode, uneven batches, and rewriting (startPos below the current length rolls the sequence back). Never a gap,
 * never past the capacity. The 8-bit format is the float32 analogue of the paper's FP8 indexer cache (132 B per
 * token instead of 512 B); its packed layout is the one the native kernels read (see @ds/core native/attention.ts).
 */
import { expectShape, InputError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { type AttentionConfig, kvEntryDim } from "../config.ts"
import type { BatchLayout } from "../layout.ts"
import type { NativeAttentionKernels } from "./native.ts"

/** How the indexer keys are stored. */
export type IndexKeyFormat = "float32" | "int8"

export interface HostKvCache {
  readonly batch: number
  readonly capacity: number
  /** kv_lora_rank + qk_rope_head_dim */
  readonly kvWidth: number
  /** index_head_dim */
  readonly indexDim: number
  readonly indexKeyFormat: IndexKeyFormat
  /** [B, capacity, kvWidth] */
  readonly kv: Float32Array
  /** [B, capacity, indexDim] (format "float32"; empty otherwise) */
  readonly indexKeys: Float32Array
  /** [B, packedKeyBytes(capacity, indexDim)] (format "int8"; empty otherwise) */
  readonly keys8: Int8Array
  /** [B, capacity] (format "int8"; empty otherwise) */
  readonly keyScales: Float32Array
  /** Valid positions per sequence. */
  readonly lengths: Array<number>
  /** The key axis E: the longest length written so far (never shrinks, like the tensor cache's E). */
  extent: number
  /** Writes so far: a reader that copied rows out (kv-cache.ts) knows when its copy is stale. */
  writes: number
}

/** Bytes of one sequence's packed 8-bit keys: whole blocks of 16 keys. */
export const packedKeyBytes = (capacity: number, indexDim: number): number => Math.ceil(capacity / 16) * 16 * indexDim

/** An empty host cache for `batch` sequences of at most `capacity` positions (default max_seq_len). */
export const createHostKvCache = (
  config: AttentionConfig,
  batch: number,
  options: { readonly capacity?: number; readonly indexKeyFormat?: IndexKeyFormat } = {},
): HostKvCache => {
  const capacity = options.capacity ?? config.max_seq_len
  const format = options.indexKeyFormat ?? "float32"
  const kvWidth = kvEntryDim(config)
  const indexDim = config.index_head_dim
  if (format === "int8" && indexDim % 4 !== 0)
    throw new InputError({ source: "indexKeyFormat", reason: `int8 keys need index_head_dim % 4 = 0, got ${indexDim}` })
  return {
    batch,
    capacity,
    kvWidth,
    indexDim,
    indexKeyFormat: format,
    kv: new Float32Array(batch * capacity * kvWidth),
    indexKeys: new Float32Array(format === "float32" ? batch * capacity * indexDim : 0),
    keys8: new Int8Array(format === "int8" ? batch * packedKeyBytes(capacity, indexDim) : 0),
    keyScales: new Float32Array(format === "int8" ? batch * capacity : 0),
    lengths: Array(batch).fill(0),
    extent: 0,
    writes: 0,
  }
}

const checkWrite = (cache: HostKvCache, layout: BatchLayout): void => {
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
}

/**
 * Writes the new tokens' rows in place: kv [B, T, kvWidth] and indexKeys [B, T, indexDim] (host arrays, row-major),
 * token t of sequence b at position startPos[b] + t for t < validLengths[b]; updates `lengths`. The int8 format
 * quantises the keys with the native kernel (`native` required then). Throws InputError on a gap or overflow.
 */
export const writeHostKvCacheArrays = (
  cache: HostKvCache,
  rows: { readonly kv: Float32Array; readonly indexKeys: Float32Array },
  layout: BatchLayout,
  native?: NativeAttentionKernels,
): void => {
  checkWrite(cache, layout)
  const { capacity, kvWidth, indexDim } = cache
  if (cache.indexKeyFormat === "int8" && native === undefined)
    throw new InputError({ source: "indexKeyFormat", reason: "int8 index keys need the native attention kernels" })
  for (let b = 0; b < layout.batch; b++) {
    const start = layout.startPos[b] as number
    const valid = layout.validLengths[b] as number
    const from = b * layout.tokens
    cache.kv.set(rows.kv.subarray(from * kvWidth, (from + valid) * kvWidth), (b * capacity + start) * kvWidth)
    const keys = rows.indexKeys.subarray(from * indexDim, (from + valid) * indexDim)
    if (cache.indexKeyFormat === "float32") cache.indexKeys.set(keys, (b * capacity + start) * indexDim)
    else
      native?.attentionQuantizeKeys({
        keys,
        rows: valid,
        dim: indexDim,
        first: start,
        keys8: cache.keys8.subarray(
          b * packedKeyBytes(capacity, indexDim),
          (b + 1) * packedKeyBytes(capacity, indexDim),
        ),
        keyScales: cache.keyScales.subarray(b * capacity, (b + 1) * capacity),
      })
    cache.lengths[b] = layout.keyLengths[b] as number
  }
  cache.extent = Math.max(cache.extent, ...layout.keyLengths)
  cache.writes += 1
}

/** `writeHostKvCacheArrays` from tensors kv [B, T, kvWidth] and indexKeys [B, T, indexDim] (reads only the new rows). */
export const writeHostKvCache = (
  cache: HostKvCache,
  rows: { readonly kv: tf.Tensor3D; readonly indexKeys: tf.Tensor3D },
  layout: BatchLayout,
  native?: NativeAttentionKernels,
): void => {
  expectShape("writeHostKvCache kv", rows.kv, [cache.batch, layout.tokens, cache.kvWidth])
  expectShape("writeHostKvCache indexKeys", rows.indexKeys, [cache.batch, layout.tokens, cache.indexDim])
  writeHostKvCacheArrays(
    cache,
    { kv: rows.kv.dataSync() as Float32Array, indexKeys: rows.indexKeys.dataSync() as Float32Array },
    layout,
    native,
  )
}

/** Rows 0 .. keys − 1 of sequence b's kv [keys · kvWidth] (a view, no copy). */
export const hostKvRows = (cache: HostKvCache, b: number, keys: number): Float32Array =>
  cache.kv.subarray(b * cache.capacity * cache.kvWidth, (b * cache.capacity + keys) * cache.kvWidth)

/** Sequence b's index keys for the native kernels: float rows, or packed int8 + scales (views, no copy). */
export const hostIndexKeys = (
  cache: HostKvCache,
  b: number,
  keys: number,
): { readonly indexKeys: Float32Array } | { readonly keys8: Int8Array; readonly keyScales: Float32Array } => {
  const { capacity, indexDim } = cache
  if (cache.indexKeyFormat === "float32")
    return { indexKeys: cache.indexKeys.subarray(b * capacity * indexDim, (b * capacity + keys) * indexDim) }
  const bytes = packedKeyBytes(capacity, indexDim)
  return {
    keys8: cache.keys8.subarray(b * bytes, b * bytes + packedKeyBytes(keys, indexDim)),
    keyScales: cache.keyScales.subarray(b * capacity, b * capacity + keys),
  }
}

/**
 * Rows 0 .. keys − 1 of every sequence as one [B, keys, width] tensor (a copy of B · keys rows, the read the
 * reference attention makes): `part` "kv" or "indexKeys" (float32 format only).
 */
export const hostCacheTensor = (cache: HostKvCache, part: "kv" | "indexKeys", keys: number): tf.Tensor3D => {
  if (part === "indexKeys" && cache.indexKeyFormat !== "float32")
    throw new InputError({ source: "indexKeyFormat", reason: "only float32 index keys can be read as a tensor" })
  const width = part === "kv" ? cache.kvWidth : cache.indexDim
  const store = part === "kv" ? cache.kv : cache.indexKeys
  const values = new Float32Array(cache.batch * keys * width)
  for (let b = 0; b < cache.batch; b++)
    values.set(store.subarray(b * cache.capacity * width, (b * cache.capacity + keys) * width), b * keys * width)
  return tf.tensor3d(values, [cache.batch, keys, width])
}

/**
 * A new float32 cache holding the given sequences of the given caches, in order (join and leave of a running
 * batch, apps/server): `picks` are [cache, row] pairs; every cache has the same capacity and widths. Copies only
 * the valid rows of each picked sequence; E becomes the longest picked length.
 */
export const pickHostKvRows = (
  picks: ReadonlyArray<readonly [HostKvCache, number]>,
  capacity: number,
  widths: { readonly kvWidth: number; readonly indexDim: number },
): HostKvCache => {
  const { kvWidth, indexDim } = widths
  const batch = picks.length
  const out: HostKvCache = {
    batch,
    capacity,
    kvWidth,
    indexDim,
    indexKeyFormat: "float32",
    kv: new Float32Array(batch * capacity * kvWidth),
    indexKeys: new Float32Array(batch * capacity * indexDim),
    keys8: new Int8Array(0),
    keyScales: new Float32Array(0),
    lengths: Array(batch).fill(0),
    extent: 0,
    writes: 0,
  }
  picks.forEach(([from, row], b) => {
    if (from.indexKeyFormat !== "float32" || from.capacity !== capacity || from.kvWidth !== kvWidth)
      throw new InputError({ source: "pickHostKvRows", reason: "every cache must be float32 with the same capacity" })
    const length = from.lengths[row] as number
    out.kv.set(hostKvRows(from, row, length), b * capacity * kvWidth)
    out.indexKeys.set(
      from.indexKeys.subarray(row * capacity * indexDim, (row * capacity + length) * indexDim),
      b * capacity * indexDim,
    )
    out.lengths[b] = length
  })
  out.extent = Math.max(0, ...out.lengths)
  return out
}
