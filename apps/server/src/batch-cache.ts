/**
 * The KV cache of the running batch, whose rows come and go (docs/server.md §2; the cache layout is
 * the KV cache of docs/attention.md §8: per layer kv [B, E, kv_lora + R], indexKeys [B, E, d_I], lengths [B]).
 *
 *   join:   a sequence prefilled alone in its own cache becomes the last row of the batch
 *   leave:  the rows of the remaining sequences are kept, and the key axis is cut to their longest length
 *
 * Both copy only the valid rows of the sequences kept, into a new in-place host cache (@ds/model
 * `pickModelCacheRows`); the decode steps in between write one row per sequence in place. Rows past a sequence's
 * length are masked by the attention (docs/attention.md), so E never changes a sequence's logits.
 */
import { disposeModelCache, type ModelCache, pickModelCacheRows } from "@ds/model"

/** The batch with `one`'s rows appended; both inputs are disposed. */
export const joinCache = (batch: ModelCache | undefined, one: ModelCache): ModelCache => {
  if (batch === undefined) return one
  const rows = (cache: ModelCache) => (cache.layers[0]?.lengths ?? []).map((_, row) => [cache, row] as const)
  const joined = pickModelCacheRows([...rows(batch), ...rows(one)])
  disposeModelCache(batch)
  disposeModelCache(one)
  return joined
}

/** The batch reduced to `rows` (in that order), or undefined when none remain; the input is disposed. */
export const keepRows = (batch: ModelCache, rows: ReadonlyArray<number>): ModelCache | undefined => {
  const kept = rows.length === 0 ? undefined : pickModelCacheRows(rows.map((row) => [batch, row] as const))
  disposeModelCache(batch)
  return kept
}
