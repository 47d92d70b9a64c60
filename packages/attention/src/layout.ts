/**
 * Where each new token sits: per-sequence start positions, right padding, and the keys each query may see
 * (docs/attention.md §4 causality, extended past the reference: start_pos > 0, several tokens, uneven batches).
 *
 *   query (b, t) is at absolute position  pos[b, t] = start[b] + t
 *   sequence b holds keys at positions    0 .. keyLength[b] − 1,   keyLength[b] = start[b] + valid[b]
 *   query (b, t) may attend to key s  ⇔  s < rowLength[b, t] = min(pos[b, t] + 1, keyLength[b])
 *
 * Keys are addressed by absolute position (key row s of the cache is position s), so the allowed set of every
 * query is a prefix of the key axis. Tokens t ≥ valid[b] are right padding: they are computed, never cached,
 * and attend to all of their sequence's keys (their outputs are to be ignored).
 */
import { InputError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"

/** The positions of a [B, T] chunk of new tokens and the key range each sequence ends up with. */
export interface BatchLayout {
  readonly batch: number
  readonly tokens: number
  /** Absolute position of token 0 of each sequence (B entries). */
  readonly startPos: ReadonlyArray<number>
  /** Real (non-padding) new tokens of each sequence; the rest of the row is right padding (B entries). */
  readonly validLengths: ReadonlyArray<number>
  /** Keys each sequence holds after this chunk: startPos + validLengths (B entries). */
  readonly keyLengths: ReadonlyArray<number>
  /** Length of the key axis the attention runs over (≥ every keyLength). */
  readonly keyCount: number
}

const perSequence = (
  name: string,
  value: number | ReadonlyArray<number> | undefined,
  batch: number,
  fallback: number,
) => {
  const values =
    value === undefined
      ? Array(batch).fill(fallback)
      : typeof value === "number"
        ? Array(batch).fill(value)
        : [...value]
  if (values.length !== batch)
    throw new InputError({ source: name, reason: `expected ${batch} entries (one per sequence), got ${values.length}` })
  for (const v of values)
    if (!Number.isInteger(v) || v < 0)
      throw new InputError({ source: name, reason: `entries must be integers >= 0, got ${v}` })
  return values as ReadonlyArray<number>
}

/**
 * Builds the layout of a chunk. `startPos` is one number for all sequences or one per sequence (default 0);
 * `validLengths` defaults to `tokens` for every sequence; `keyCount` defaults to the longest key length.
 */
export const batchLayout = (
  batch: number,
  tokens: number,
  options: {
    readonly startPos?: number | ReadonlyArray<number>
    readonly validLengths?: ReadonlyArray<number>
    readonly keyCount?: number
  } = {},
): BatchLayout => {
  const startPos = perSequence("startPos", options.startPos, batch, 0)
  const validLengths = perSequence("validLengths", options.validLengths, batch, tokens)
  if (validLengths.some((v) => v > tokens))
    throw new InputError({ source: "validLengths", reason: `entries must be <= the ${tokens} tokens of the chunk` })
  const keyLengths = startPos.map((s, b) => s + (validLengths[b] as number))
  const keyCount = options.keyCount ?? Math.max(0, ...keyLengths)
  if (keyLengths.some((k) => k > keyCount))
    throw new InputError({
      source: "keyCount",
      reason: `${keyCount} is shorter than a sequence's keys (${Math.max(...keyLengths)})`,
    })
  return { batch, tokens, startPos, validLengths, keyLengths, keyCount }
}

/** pos[b, t] = startPos[b] + t, as a float32 [B, T] tensor (exact below 2^24). */
export const queryPositions = (layout: BatchLayout): tf.Tensor2D =>
  tf.tensor2d(
    Float32Array.from(
      { length: layout.batch * layout.tokens },
      (_, i) => (layout.startPos[Math.floor(i / layout.tokens)] as number) + (i % layout.tokens),
    ),
    [layout.batch, layout.tokens],
  )

/** rowLength[b, t] = min(pos + 1, keyLength[b]): how many leading keys query (b, t) may attend to. */
export const rowLengthValues = (layout: BatchLayout): Int32Array =>
  Int32Array.from({ length: layout.batch * layout.tokens }, (_, i) => {
    const b = Math.floor(i / layout.tokens)
    return Math.min((layout.startPos[b] as number) + (i % layout.tokens) + 1, layout.keyLengths[b] as number)
  })

/** rowLengths as an int32 [B, T] tensor. */
export const rowLengths = (layout: BatchLayout): tf.Tensor2D =>
  tf.tensor2d(rowLengthValues(layout), [layout.batch, layout.tokens], "int32")

/** The causal-and-valid mask [B, T, keyCount] (bool): key s allowed for query (b, t) iff s < rowLength[b, t]. */
export const causalMask = (layout: BatchLayout): tf.Tensor3D =>
  tf.tidy(() => prefixMask(rowLengths(layout), layout.keyCount))

/** mask[b, t, s] = s < lengths[b, t] for lengths [B, T] (int32); disposes nothing it did not create. */
export const prefixMask = (lengths: tf.Tensor2D, keyCount: number): tf.Tensor3D =>
  tf.tidy(() => tf.less(tf.range(0, keyCount, 1, "int32"), tf.expandDims(lengths, -1)) as tf.Tensor3D)
