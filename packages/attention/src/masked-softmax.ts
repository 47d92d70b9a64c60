/**
 * Softmax over the allowed entries of the last axis, with its log-sum-exp (docs/attention.md §5-§6: the
 * reference adds −inf outside the selected set, then softmaxes in float32).
 *
 *   lse = log Σ_{s allowed} exp(z_s)            p_s = exp(z_s − lse) if allowed, else 0
 *
 * A row with nothing allowed gets p = 0 and lse = −∞ (instead of the NaN a plain softmax gives). Plain tfjs
 * ops, differentiable in z (the mask carries no gradient); every op used has a registered gradient, so the mask may
 * come from a `nonDifferentiable` node of the tape. (The lse of an empty row must not receive a gradient.)
 */
import * as tf from "@tensorflow/tfjs"

/** p and lse for logits z: [..., S] and allowed: bool, broadcastable to z. lse has z's shape without the last axis. */
export const maskedSoftmax = (
  logits: tf.Tensor,
  allowed: tf.Tensor,
): { readonly probs: tf.Tensor; readonly lse: tf.Tensor } =>
  tf.tidy(() => {
    const mask = tf.broadcastTo(allowed, logits.shape)
    const masked = tf.where(mask, logits, tf.fill(logits.shape, Number.NEGATIVE_INFINITY))
    const rowMax = tf.max(masked, -1, true)
    const shift = tf.where(tf.isFinite(rowMax), rowMax, tf.zerosLike(rowMax))
    const exps = tf.where(mask, tf.exp(tf.sub(tf.where(mask, logits, shift), shift)), tf.zerosLike(logits))
    const total = tf.sum(exps, -1, true)
    // total >= 1 on a row with anything allowed (its maximum contributes exp(0)); 0 on an empty row.
    const probs = tf.div(exps, tf.maximum(total, 1))
    const lse = tf.squeeze(tf.add(tf.log(total), shift), [-1])
    return { probs, lse }
  })
