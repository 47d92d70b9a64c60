/**
 * Token sampler with temperature, top-k and top-p (docs/model.md §6 for the demo's sampling, docs/grpo.md §7 for the
 * sampling mask the RL trainer needs).
 *
 *   p      = softmax(logits / τ)
 *   rank   = token ids by descending logit, ties broken by the lower id (a strict total order)
 *   K_k    = the first k ids by rank                          (top-k; off when k = 0)
 *   K_p    = the shortest rank-prefix of K_k whose mass, renormalised over K_k, reaches top_p  (off when top_p = 1)
 *   q      = p restricted to K = K_k ∩ K_p, renormalised      (the processed distribution)
 *   token ~ q ;  record log q(token) and the kept set K — or null when K is the whole vocabulary (nothing was cut)
 *
 * τ = 0 is greedy: K = {argmax} (the lowest id among equal maxima), log q = 0. At least one token is always kept.
 *
 * Selection does not sort the vocabulary: K_k comes from a bounded heap over the ids (O(V log k)); top-p takes the
 * best m ids the same way, sorts only those m, and grows m geometrically (×4) until the cumulative mass reaches top_p,
 * so a peaked distribution costs O(V) per token; past V/8 it sorts every id once (a flat distribution under top-p
 * alone costs about one full sort, as before). The rank order above makes the result equal to sorting the whole
 * vocabulary and cutting it: the same ids in the same order, the same floating-point sums. The renormalising total
 * of K_p is summed over K_k in ascending id order (over the vocabulary when top-k is off).
 *
 * The draw uses one uniform u ∈ [0, 1) per token (inverse CDF over K in ascending id order, the whole vocabulary in
 * id order when K is null), so a seeded stream of uniforms gives reproducible samples.
 */
import { ShapeError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"

export interface SamplingOptions {
  /** Softmax temperature τ; 0 = greedy (DeepSeek demo default 0.6). */
  readonly temperature: number
  /** Keep only the k most probable tokens; 0 or absent = off. */
  readonly topK?: number
  /** Nucleus mass; 1 or absent = off. */
  readonly topP?: number
}

export interface SampledToken {
  readonly token: number
  /** log q(token) under the processed (truncated, renormalised) distribution. */
  readonly logProb: number
  /** The kept-token set K (the sampling mask), ascending token ids; null when nothing was cut (K = vocabulary). */
  readonly kept: Int32Array | null
}

const checkOptions = (o: SamplingOptions): void => {
  if (!(o.temperature >= 0))
    throw new ShapeError({ argument: "temperature", expected: ">= 0", actual: String(o.temperature) })
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0))
    throw new ShapeError({ argument: "topK", expected: "integer >= 0", actual: String(o.topK) })
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1))
    throw new ShapeError({ argument: "topP", expected: "in (0, 1]", actual: String(o.topP) })
}

const argmax = (xs: ArrayLike<number>): number => {
  let best = 0
  for (let i = 1; i < xs.length; i++) if ((xs[i] as number) > (xs[best] as number)) best = i
  return best
}

/** true when id a ranks before id b: higher logit, ties to the lower id. */
const ranksBefore = (logits: ArrayLike<number>, a: number, b: number): boolean => {
  const la = logits[a] as number
  const lb = logits[b] as number
  return la > lb || (la === lb && a < b)
}

/**
 * The m best ids by rank, in rank order, without sorting the vocabulary: a heap of size m whose root is the worst
 * id held (O(V log m)), then a sort of the m survivors.
 */
const topByRank = (logits: ArrayLike<number>, m: number): Int32Array => {
  // A prefix this long is cheaper to take from one sort of every id than from a heap.
  if (8 * m >= logits.length)
    return Int32Array.from({ length: logits.length }, (_, i) => i)
      .sort((a, b) => (ranksBefore(logits, a, b) ? -1 : 1))
      .slice(0, m)
  const heap = new Int32Array(m)
  const worse = (a: number, b: number) => ranksBefore(logits, b, a) // a ranks after b
  const siftDown = (start: number) => {
    let i = start
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let w = i
      if (l < m && worse(heap[l] as number, heap[w] as number)) w = l
      if (r < m && worse(heap[r] as number, heap[w] as number)) w = r
      if (w === i) return
      const t = heap[i] as number
      heap[i] = heap[w] as number
      heap[w] = t
      i = w
    }
  }
  for (let i = 0; i < m; i++) heap[i] = i
  for (let i = (m >> 1) - 1; i >= 0; i--) siftDown(i)
  for (let id = m; id < logits.length; id++) {
    if (ranksBefore(logits, id, heap[0] as number)) {
      heap[0] = id
      siftDown(0)
    }
  }
  return heap.sort((a, b) => (ranksBefore(logits, a, b) ? -1 : 1))
}

/** First prefix size of `ranked` whose cumulative mass / total reaches topP, or undefined when it never does. */
const nucleusSize = (
  logits: ArrayLike<number>,
  ranked: Int32Array,
  max: number,
  tau: number,
  total: number,
  topP: number,
): number | undefined => {
  let cumulative = 0
  for (let i = 0; i < ranked.length; i++) {
    cumulative += Math.exp(((logits[ranked[i] as number] as number) - max) / tau) / total
    if (cumulative >= topP) return i + 1
  }
  return undefined
}

/** The kept set K (ascending ids) for one row of logits, or null when K is the whole vocabulary. */
export const keptTokens = (logits: ArrayLike<number>, options: SamplingOptions): Int32Array | null => {
  checkOptions(options)
  const vocab = logits.length
  const cut = (ids: Int32Array): Int32Array | null => (ids.length >= vocab ? null : ids.sort())
  if (options.temperature === 0) return cut(Int32Array.of(argmax(logits)))
  const topK = options.topK !== undefined && options.topK > 0 ? Math.min(options.topK, vocab) : vocab
  const topP = options.topP ?? 1
  if (topP >= 1) return topK >= vocab ? null : cut(topByRank(logits, topK))
  const tau = options.temperature
  const max = logits[argmax(logits)] as number
  if (topK < vocab) {
    const ranked = topByRank(logits, topK)
    const inK = Int32Array.from(ranked).sort()
    let total = 0
    for (const id of inK) total += Math.exp(((logits[id] as number) - max) / tau)
    return cut(ranked.slice(0, nucleusSize(logits, ranked, max, tau, total, topP) ?? topK))
  }
  let total = 0
  for (let id = 0; id < vocab; id++) total += Math.exp(((logits[id] as number) - max) / tau)
  for (let m = Math.min(64, vocab); ; m = 8 * 4 * m >= vocab ? vocab : 4 * m) {
    const ranked = topByRank(logits, m)
    const size = nucleusSize(logits, ranked, max, tau, total, topP)
    if (size !== undefined) return cut(ranked.slice(0, size))
    if (m === vocab) return null
  }
}

/** log q over K for every kept token (Float64, aligned with `kept`; K = all ids when null), q = softmax(logits[K] / τ). */
const keptLogProbs = (logits: ArrayLike<number>, kept: Int32Array | null, temperature: number): Float64Array => {
  const size = kept === null ? logits.length : kept.length
  const idAt = (i: number): number => (kept === null ? i : (kept[i] as number))
  const out = new Float64Array(size)
  if (temperature === 0) return out.fill(size === 1 ? 0 : Number.NEGATIVE_INFINITY)
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < size; i++) max = Math.max(max, logits[idAt(i)] as number)
  let total = 0
  for (let i = 0; i < size; i++) {
    out[i] = ((logits[idAt(i)] as number) - max) / temperature
    total += Math.exp(out[i] as number)
  }
  const logTotal = Math.log(total)
  for (let i = 0; i < size; i++) out[i] = (out[i] as number) - logTotal
  return out
}

/**
 * log q(token) recomputed over a recorded kept set (the check of Keep Sampling Mask); null = the whole vocabulary.
 * −∞ when token ∉ K.
 */
export const logProbOverKept = (
  logits: ArrayLike<number>,
  token: number,
  kept: Int32Array | null,
  temperature: number,
): number => {
  const at = kept === null ? (token >= 0 && token < logits.length ? token : -1) : kept.indexOf(token)
  if (at < 0) return Number.NEGATIVE_INFINITY
  return keptLogProbs(logits, kept, temperature)[at] as number
}

/** Samples one token from one row of logits with a uniform draw u ∈ [0, 1). */
export const sampleToken = (logits: ArrayLike<number>, options: SamplingOptions, u: number): SampledToken => {
  const kept = keptTokens(logits, options)
  const size = kept === null ? logits.length : kept.length
  const idAt = (i: number): number => (kept === null ? i : (kept[i] as number))
  if (size === 1) return { token: idAt(0), logProb: 0, kept }
  const logQ = keptLogProbs(logits, kept, options.temperature)
  let cumulative = 0
  for (let i = 0; i < size; i++) {
    cumulative += Math.exp(logQ[i] as number)
    if (u < cumulative || i === size - 1) return { token: idAt(i), logProb: logQ[i] as number, kept }
  }
  return { token: idAt(size - 1), logProb: logQ[size - 1] as number, kept }
}

/** Samples one token per row of logits [B, V]; `uniforms` holds one draw per row. */
export const sampleRows = (
  logits: tf.Tensor2D,
  options: SamplingOptions,
  uniforms: ArrayLike<number>,
): Array<SampledToken> => {
  const [rows, vocab] = logits.shape
  if (uniforms.length < rows)
    throw new ShapeError({ argument: "uniforms", expected: `>= ${rows} draws`, actual: String(uniforms.length) })
  const data = logits.dataSync()
  return Array.from({ length: rows }, (_, r) =>
    sampleToken(data.subarray(r * vocab, (r + 1) * vocab), options, uniforms[r] as number),
  )
}

/**
 * Differentiable log q(token) for training with Keep Sampling Mask (§3.5): logits [N, V] on the tape, the sampled
 * tokens [N], and optionally the recorded kept sets (logits outside K are masked to −∞ before the softmax; a null
 * set leaves its row unmasked).
 * Returns [N]. Temperature must be > 0 here.
 */
export const tokenLogProbs = (
  logits: tf.Tensor2D,
  tokens: Int32Array,
  kept?: ReadonlyArray<Int32Array | null>,
  temperature = 1,
): tf.Tensor1D => {
  const [n, vocab] = logits.shape
  if (tokens.length !== n)
    throw new ShapeError({ argument: "tokens", expected: `${n} ids`, actual: String(tokens.length) })
  if (kept !== undefined && kept.length !== n)
    throw new ShapeError({ argument: "kept", expected: `${n} sets`, actual: String(kept.length) })
  if (!(temperature > 0))
    throw new ShapeError({ argument: "temperature", expected: "> 0", actual: String(temperature) })
  return tf.tidy(() => {
    let scaled = temperature === 1 ? logits : tf.div(logits, temperature)
    if (kept !== undefined) {
      const mask = new Float32Array(n * vocab).fill(Number.NEGATIVE_INFINITY)
      kept.forEach((set, row) => {
        if (set === null) mask.fill(0, row * vocab, (row + 1) * vocab)
        else for (const id of set) mask[row * vocab + id] = 0
      })
      scaled = tf.add(scaled, tf.tensor2d(mask, [n, vocab]))
    }
    const logSoftmax = tf.logSoftmax(scaled)
    const picked = tf.oneHot(tf.tensor1d(tokens, "int32"), vocab)
    return tf.sum(tf.where(picked.cast("bool"), logSoftmax, tf.zerosLike(logSoftmax)), -1) as tf.Tensor1D
  })
}
