/**
 * Cutting gradients (docs/attention.md §9: the indexer's inputs are detached, and §4: top-k is not differentiable;
 * docs/grpo.md §5: the off-policy mask and the metrics read the policy's log-probabilities detached).
 *
 *   stopGradient(x) = x in the forward pass; no gradient flows back through it (PyTorch `x.detach()`)
 *   nonDifferentiable(f)(x₁..xₙ) = f(x₁..xₙ), with zero gradient into every xᵢ
 *
 * tfjs has no stop-gradient op. `stopGradient` makes a new tensor over the same data buffer (no kernel runs, so
 * the gradient tape records nothing, and nothing is read back to the host): a leaf of autodiff, like a constant.
 * Everything computed from it, comparisons and casts included (which have no gradients in tfjs), stays off the
 * backward pass. `nonDifferentiable` is a `tf.customGrad` node whose backward returns zeros: ops run inside its
 * forward are not recorded on the tape, so integer-valued work (top-k, masks built from indices) never needs
 * gradients of its own, and its inputs still get a (zero) gradient; the zeros are float32 as tfjs requires.
 */
import * as tf from "@tensorflow/tfjs"

const zeroGradients = (inputs: ReadonlyArray<tf.Tensor>): Array<tf.Tensor> =>
  inputs.map((x) => tf.zeros(x.shape, "float32"))

/**
 * The value of `x` as a leaf of autodiff: shares x's data on the backend (no copy, no host read). The shared buffer
 * is reference-counted as tfjs's own `reshape` does it, so disposing either tensor leaves the other valid.
 */
export const stopGradient = <T extends tf.Tensor>(x: T): T => {
  const engine = tf.engine()
  engine.backend.incRef(x.dataId)
  return engine.makeTensorFromDataId(x.dataId, x.shape, x.dtype) as T
}

/** Runs `f` on the inputs as one node of the gradient tape with zero gradient into each input. */
export const nonDifferentiable = <T extends tf.Tensor>(
  f: (...inputs: Array<tf.Tensor>) => T,
  ...inputs: Array<tf.Tensor>
): T =>
  tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const tensors = args.slice(0, inputs.length) as Array<tf.Tensor>
    return { value: f(...tensors), gradFunc: () => zeroGradients(tensors) }
  })(...inputs) as T
