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
 * Storage (docs/attention.md §11): the rows live in a host cache (fused/host-kv-cache.ts), preallocated at the
 * capacity and written IN PLACE, O(T · row) per write whatever the lengths (tfjs tensors are immutable, so a
 * tensor store would be rebuilt, O(E · row), on every write). `kv` and `indexKeys` are tensors copied from it on
 * the first read after a write (one copy of B · E rows, which the reference attention reads anyway) and owned
 * by the cache; the fused DSA layer (fused/dsa-layer.ts) reads the store itself, with no tensor. Both attention
 * paths therefore share one cache, and a sequence may switch path between calls.
 *
 * Deviation: no FP8 storage (float32 rows).
 */
import { InputError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import type { AttentionConfig } from "./config.ts"
import {
  createHostKvCache,
  type HostKvCache,
  hostCacheTensor,
  pickHostKvRows,
  writeHostKvCache,
} from "./fused/host-kv-cache.ts"
import type { BatchLayout } from "./layout.ts"

/** One layer's cache for a batch of sequences. Written by `writeKvCache` (or the fused layer); `disposeKvCache`. */
export interface LayerKvCache {
  /** The in-place row store both attention paths write and read. */
  readonly host: HostKvCache
  /** [B, E, kv_lora + R], rows 0 .. E − 1: a copy of the store, made on read, replaced after the next write. */
  readonly kv: tf.Tensor3D
  /** [B, E, d_I], likewise. */
  readonly indexKeys: tf.Tensor3D
  /** Valid positions per sequence (the store's own array). */
  readonly lengths: Array<number>
  /** Most positions a sequence may hold. */
  readonly capacity: number
}

interface TensorView {
  readonly writes: number
  readonly kv: tf.Tensor3D
  readonly indexKeys: tf.Tensor3D
}

/** The tensor copies of each store, keyed by the store (dropped with it). */
const views = new WeakMap<HostKvCache, TensorView>()

const releaseView = (host: HostKvCache): void => {
  const view = views.get(host)
  if (view !== undefined) tf.dispose([view.kv, view.indexKeys])
  views.delete(host)
}

/** The store's rows 0 .. E − 1 as tensors, copied again only when the store was written since the last copy. */
const viewOf = (host: HostKvCache): TensorView => {
  const current = views.get(host)
  if (current !== undefined && current.writes === host.writes) return current
  releaseView(host)
  const view = {
    writes: host.writes,
    kv: tf.keep(hostCacheTensor(host, "kv", host.extent)),
    indexKeys: tf.keep(hostCacheTensor(host, "indexKeys", host.extent)),
  }
  views.set(host, view)
  return view
}

/** A cache over an existing float32 host store (which it then owns). */
export const kvCacheOf = (host: HostKvCache): LayerKvCache => ({
  host,
  lengths: host.lengths,
  capacity: host.capacity,
  get kv() {
    return viewOf(host).kv
  },
  get indexKeys() {
    return viewOf(host).indexKeys
  },
})

/** An empty cache for `batch` sequences of at most `capacity` positions (default config.max_seq_len). */
export const createKvCache = (config: AttentionConfig, batch: number, capacity = config.max_seq_len): LayerKvCache =>
  kvCacheOf(createHostKvCache(config, batch, { capacity }))

/** Releases the cache's tensors (the host store is garbage-collected with the cache). */
export const disposeKvCache = (cache: LayerKvCache): void => releaseView(cache.host)

/**
 * Writes the new tokens' rows into the cache in place: kv [B, T, kv_lora + R] and indexKeys [B, T, d_I], token t
 * of sequence b at position startPos[b] + t for t < validLengths[b]. Updates `lengths`. Throws InputError when a
 * write would leave a gap or exceed the capacity.
 */
export const writeKvCache = (
  cache: LayerKvCache,
  rows: { readonly kv: tf.Tensor3D; readonly indexKeys: tf.Tensor3D },
  layout: BatchLayout,
): void => writeHostKvCache(cache.host, rows, layout)

/**
 * A new cache holding sequences of the given caches, in order: `picks` are [cache, row] pairs (a running batch's
 * join and leave). Copies only the picked sequences' valid rows; E becomes the longest picked length. The inputs
 * are left as they are.
 */
export const pickKvCacheRows = (picks: ReadonlyArray<readonly [LayerKvCache, number]>): LayerKvCache => {
  const first = picks[0]?.[0]
  if (first === undefined) throw new InputError({ source: "pickKvCacheRows", reason: "pick at least one sequence" })
  return kvCacheOf(
    pickHostKvRows(
      picks.map(([cache, row]) => [cache.host, row] as const),
      first.capacity,
      first.host,
    ),
  )
}
