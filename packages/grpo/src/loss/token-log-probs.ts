/**
 * Log-probabilities of the sampled tokens, with the Keep Sampling Mask (docs/grpo.md §7), and token entropies.
 *
 *   log π(o_t) = z_t[o_t] − logsumexp_{v ∈ K_t} z_t[v]        K_t = kept set at step t (all v when unmasked)
 *   H_t = −Σ_{v ∈ K_t} π(v) log π(v)
 *
 * z: [N, T, V] logits already divided by the sampling temperature; tokens: [N, T] int32; kept: [N, T, V] 0/1
 * (1 = the sampler's top-p/top-k kept v at that step). Logits outside K_t get −1e9, so π_θ is renormalised over
 * exactly the support π_old sampled from and r = π_θ/π_old is a valid importance ratio. The sampled token is
 * picked with a one-hot product (differentiable on every backend, no gather gradient needed).
 */
import { expectRank, expectShape } from "@ds/core"
import * as tf from "@tensorflow/tfjs"

const outsideKeptSet = -1e9

/** Logits with every token outside the kept set pushed to −1e9. z, kept: [N, T, V] */
export const maskLogits = (logits: tf.Tensor3D, kept: tf.Tensor3D | null): tf.Tensor3D => {
  if (kept === null) return logits.clone()
  expectShape("kept", kept, logits.shape)
  return tf.tidy(() => tf.add(logits, tf.mul(tf.sub(1, kept), outsideKeptSet)))
}

/** log π(o_t) for every position. logits [N, T, V], tokens [N, T] int32, kept [N, T, V] | null -> [N, T] */
export const sampledTokenLogProbs = (
  logits: tf.Tensor3D,
  tokens: tf.Tensor2D,
  kept: tf.Tensor3D | null = null,
): tf.Tensor2D => {
  const [n = 0, t = 0, v = 0] = expectRank("logits", logits, 3)
  expectShape("tokens", tokens, [n, t])
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(maskLogits(logits, kept)) // [N, T, V]
    const picked = tf.oneHot(tf.cast(tokens, "int32"), v) // [N, T, V]
    return tf.sum(tf.mul(logProbs, picked), 2) as tf.Tensor2D
  })
}

/** Entropy of π over the kept set at each position. logits [N, T, V], kept [N, T, V] | null -> [N, T] */
export const tokenEntropy = (logits: tf.Tensor3D, kept: tf.Tensor3D | null = null): tf.Tensor2D =>
  tf.tidy(() => {
    const logProbs = tf.logSoftmax(maskLogits(logits, kept))
    return tf.neg(tf.sum(tf.mul(tf.exp(logProbs), logProbs), 2)) as tf.Tensor2D
  })

/**
 * Dense 0/1 kept mask from the recorded kept sets. keptSets[n][t] lists the token ids kept at step t of sequence n
 * (null or absent: the whole vocabulary). -> [N, T, V]
 */
export const keptSetMask = (
  keptSets: ReadonlyArray<ReadonlyArray<ReadonlyArray<number> | null> | null>,
  steps: number,
  vocabSize: number,
): tf.Tensor3D => {
  const n = keptSets.length
  const values = new Float32Array(n * steps * vocabSize)
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < steps; t++) {
      const row = (i * steps + t) * vocabSize
      const kept = keptSets[i]?.[t] ?? null
      if (kept === null) values.fill(1, row, row + vocabSize)
      else for (const id of kept) if (id >= 0 && id < vocabSize) values[row + id] = 1
    }
  }
  return tf.tensor3d(values, [n, steps, vocabSize])
}
