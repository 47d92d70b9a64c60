/**
 * The KV cache of the running batch, whose rows come and go (docs/server.md §2; the cache layout is
 * the KV cache of docs/attention.md §8: per layer kv [B, E, kv_lora + R], indexKeys [B, E, d_I], lengths [B]).
 *
 *   join:   a sequence prefilled alone in its own [1, E₁, ·] cache becomes the last row of the batch:
 *           both are zero-padded along the key axis to E = max(E_batch, E₁), then concatenated along the batch axis
 *   leave:  the rows of the remaining sequences are gathered, and the key axis is cut to their longest length
 *
 * Rows past a sequence's length are masked by the attention (docs/attention.md), so padding never changes a
 * sequence's logits; cutting E when a long sequence leaves keeps memory flat over a long run.
 */
import { disposeModelCache, type ModelCache } from "@ds/model"
import * as tf from "@tensorflow/tfjs"

type LayerCache = ModelCache["layers"][number]

const padKeys = (t: tf.Tensor3D, to: number): tf.Tensor3D =>
  t.shape[1] === to
    ? t
    : (tf.pad(t, [
        [0, 0],
        [0, to - t.shape[1]],
        [0, 0],
      ]) as tf.Tensor3D)

const joinLayer = (batch: LayerCache, one: LayerCache): LayerCache => {
  const length = Math.max(batch.kv.shape[1], one.kv.shape[1])
  const kv = tf.tidy(() => tf.concat([padKeys(batch.kv, length), padKeys(one.kv, length)], 0) as tf.Tensor3D)
  const indexKeys = tf.tidy(
    () => tf.concat([padKeys(batch.indexKeys, length), padKeys(one.indexKeys, length)], 0) as tf.Tensor3D,
  )
  return { kv, indexKeys, lengths: [...batch.lengths, ...one.lengths], capacity: batch.capacity }
}

/** The batch with `one`'s rows appended; both inputs are disposed. */
export const joinCache = (batch: ModelCache | undefined, one: ModelCache): ModelCache => {
  if (batch === undefined) return one
  const layers = batch.layers.map((layer, l) => joinLayer(layer, one.layers[l] as LayerCache))
  disposeModelCache(batch)
  disposeModelCache(one)
  return { layers }
}

/** The batch reduced to `rows` (in that order), or undefined when none remain; the input is disposed. */
export const keepRows = (batch: ModelCache, rows: ReadonlyArray<number>): ModelCache | undefined => {
  if (rows.length === 0) {
    disposeModelCache(batch)
    return undefined
  }
  const layers = batch.layers.map((layer): LayerCache => {
    const lengths = rows.map((r) => layer.lengths[r] as number)
    const length = Math.max(0, ...lengths)
    const pick = (t: tf.Tensor3D) =>
      tf.tidy(() => {
        const gathered = tf.gather(t, tf.tensor1d(Int32Array.from(rows), "int32"), 0) as tf.Tensor3D
        return length < t.shape[1] ? (tf.slice(gathered, [0, 0, 0], [-1, length, -1]) as tf.Tensor3D) : gathered
      })
    return { kv: pick(layer.kv), indexKeys: pick(layer.indexKeys), lengths, capacity: layer.capacity }
  })
  disposeModelCache(batch)
  return { layers }
}
