/**
 * Token sampler with temperature, top-k and top-p (docs/model.md §6 for the demo's sampling, docs/grpo.md §7 for the
 * sampling mask the RL trainer needs).
 *
 *   p      = softmax(logits / τ)
 *   K_k    = the k most probable tokens                      (top-k; off when k = 0)
 *   K_p    = smallest prefix of K_k, by descending p, whose renormalised mass reaches top_p  (off when top_p = 1)
 *   q      = p restricted to K = K_k ∩ K_p, renormalised      (the processed distribution)
 *   token ~ q ;  record log q(token) and the kept set K
 *
 * τ = 0 is greedy: K = {argmax}, log q = 0. At least one token is always kept. Ties at the top-k boundary are
 * broken by the lower token id. The draw uses one uniform u ∈ [0, 1) per token (inverse CDF over K in id order),
 * so a seeded stream of uniforms gives reproducible samples.
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
  /** The kept-token set K (the sampling mask), ascending token ids. */
  readonly kept: Int32Array
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

/** Token ids by descending logit (ties: lower id first). */
const rankByLogit = (logits: ArrayLike<number>): Int32Array => {
  const order = Int32Array.from({ length: logits.length }, (_, i) => i)
  return order.sort((a, b) => (logits[b] as number) - (logits[a] as number) || a - b)
}

/** The kept set K (ascending ids) for one row of logits. */
export const keptTokens = (logits: ArrayLike<number>, options: SamplingOptions): Int32Array => {
  checkOptions(options)
  if (options.temperature === 0) return Int32Array.of(argmax(logits))
  const ranked = rankByLogit(logits)
  const topK = options.topK !== undefined && options.topK > 0 ? Math.min(options.topK, ranked.length) : ranked.length
  let size = topK
  const topP = options.topP ?? 1
  if (topP < 1) {
    const tau = options.temperature
    const max = logits[ranked[0] as number] as number
    const mass = new Float64Array(topK)
    let total = 0
    for (let i = 0; i < topK; i++) {
      mass[i] = Math.exp(((logits[ranked[i] as number] as number) - max) / tau)
      total += mass[i] as number
    }
    let cumulative = 0
    size = 0
    while (size < topK) {
      cumulative += (mass[size] as number) / total
      size++
      if (cumulative >= topP) break
    }
  }
  return ranked.slice(0, Math.max(1, size)).sort()
}

/** log q over K for every kept token (Float64, aligned with `kept`), q = softmax(logits[K] / τ). */
const keptLogProbs = (logits: ArrayLike<number>, kept: Int32Array, temperature: number): Float64Array => {
  const out = new Float64Array(kept.length)
  if (temperature === 0) return out.fill(kept.length === 1 ? 0 : Number.NEGATIVE_INFINITY)
  let max = Number.NEGATIVE_INFINITY
  for (const id of kept) max = Math.max(max, logits[id] as number)
  let total = 0
  for (let i = 0; i < kept.length; i++) {
    out[i] = ((logits[kept[i] as number] as number) - max) / temperature
    total += Math.exp(out[i] as number)
  }
  const logTotal = Math.log(total)
  for (let i = 0; i < kept.length; i++) out[i] = (out[i] as number) - logTotal
  return out
}

/** log q(token) recomputed over a recorded kept set (the check of Keep Sampling Mask). −∞ when token ∉ K. */
export const logProbOverKept = (
  logits: ArrayLike<number>,
  token: number,
  kept: Int32Array,
  temperature: number,
): number => {
  const at = kept.indexOf(token)
  if (at < 0) return Number.NEGATIVE_INFINITY
  return keptLogProbs(logits, kept, temperature)[at] as number
}

/** Samples one token from one row of logits with a uniform draw u ∈ [0, 1). */
export const sampleToken = (logits: ArrayLike<number>, options: SamplingOptions, u: number): SampledToken => {
  const kept = keptTokens(logits, options)
  if (kept.length === 1) return { token: kept[0] as number, logProb: 0, kept }
  const logQ = keptLogProbs(logits, kept, options.temperature)
  let cumulative = 0
  for (let i = 0; i < kept.length; i++) {
    cumulative += Math.exp(logQ[i] as number)
    if (u < cumulative || i === kept.length - 1) return { token: kept[i] as number, logProb: logQ[i] as number, kept }
  }
  return { token: kept[kept.length - 1] as number, logProb: logQ[kept.length - 1] as number, kept }
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
 * tokens [N], and optionally the recorded kept sets (logits outside K are masked to −∞ before the softmax).
 * Returns [N]. Temperature must be > 0 here.
 */
export const tokenLogProbs = (
  logits: tf.Tensor2D,
  tokens: Int32Array,
  kept?: ReadonlyArray<Int32Array>,
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
        for (const id of set) mask[row * vocab + id] = 0
      })
      scaled = tf.add(scaled, tf.tensor2d(mask, [n, vocab]))
    }
    const logSoftmax = tf.logSoftmax(scaled)
    const picked = tf.oneHot(tf.tensor1d(tokens, "int32"), vocab)
    return tf.sum(tf.where(picked.cast("bool"), logSoftmax, tf.zerosLike(logSoftmax)), -1) as tf.Tensor1D
  })
}
