/**
 * Turning selected indices into dense per-key rows (docs/attention.md §4-§5: the reference's `index_mask`, and the
 * golden `attend_mask`).
 *
 *   dense[b, t, s] = Σ_i values[b, t, i] · [indices[b, t, i] = s]        (entries with index −1 are dropped)
 *   mask[b, t, s]  = s ∈ {indices[b, t, :]}
 *
 * Built with one ScatterNd into a row with an extra dump column for −1 (no B·T·K·S one-hot). Not differentiable
 * (used for masks and for detached attention targets); both are `nonDifferentiable` tape nodes.
 */
import { dimOf, expectDtype, expectShape, nonDifferentiable } from "@ds/core"
import * as tf from "@tensorflow/tfjs"

const scatterRows = (values: tf.Tensor3D, indices: tf.Tensor3D, keyCount: number): tf.Tensor3D => {
  const [batch, tokens, k] = indices.shape
  const rows = batch * tokens
  const column = tf
    .where(tf.less(indices, 0), tf.fill(indices.shape, keyCount, "int32"), indices)
    .reshape([rows * k, 1])
  const row = tf.tile(tf.range(0, rows, 1, "int32").reshape([rows, 1]), [1, k]).reshape([rows * k, 1])
  const dense = tf.scatterND(tf.concat([row, column], 1), values.reshape([rows * k]), [rows, keyCount + 1])
  return tf.slice(dense, [0, 0], [rows, keyCount]).reshape([batch, tokens, keyCount])
}

/** dense[b,t,s] = Σ_i values[b,t,i]·[indices[b,t,i] = s] for values: float32 [B,T,K], indices: int32 [B,T,K]. */
export const scatterToKeys = (values: tf.Tensor3D, indices: tf.Tensor3D, keyCount: number): tf.Tensor3D => {
  expectDtype("scatterToKeys indices", indices, "int32")
  expectShape("scatterToKeys values", values, indices.shape)
  return nonDifferentiable(
    (v, i) => scatterRows(tf.cast(v, "float32") as tf.Tensor3D, i as tf.Tensor3D, keyCount),
    values,
    indices,
  )
}

/** The selected-set mask [B, T, keyCount] (bool) of indices: int32 [B, T, K] with −1 for empty slots. */
export const indicesToMask = (indices: tf.Tensor3D, keyCount: number): tf.Tensor3D => {
  expectDtype("indicesToMask indices", indices, "int32")
  expectShape("indicesToMask indices", indices, [null, null, dimOf(indices, 2)])
  return nonDifferentiable(
    (i) =>
      tf.greater(
        scatterRows(tf.onesLike(i).cast("float32") as tf.Tensor3D, i as tf.Tensor3D, keyCount),
        0,
      ) as tf.Tensor3D,
    indices,
  )
}
