/**
 * Cutting gradients (docs/attention.md §9: the indexer's inputs are detached; top-k is not differentiable).
 *
 *   stopGradient(x) = x in the forward pass, ∂/∂x = 0 in the backward pass
 *   nonDifferentiable(f)(x₁..xₙ) = f(x₁..xₙ), with zero gradient into every xᵢ
 *
 * tfjs has no stop-gradient op, so both are `tf.customGrad` nodes whose backward returns zeros. Ops run inside a
 * customGrad forward are not recorded on the gradient tape, so integer-valued work (top-k, masks built from
 * indices) placed in `nonDifferentiable` never needs gradients of its own; the zeros are float32 as tfjs requires.
 */
import * as tf from "@tensorflow/tfjs"

const zeroGradients = (inputs: ReadonlyArray<tf.Tensor>): Array<tf.Tensor> =>
  inputs.map((x) => tf.zeros(x.shape, "float32"))

/** Identity whose gradient is zero: the value of x, detached. */
export const stopGradient = <T extends tf.Tensor>(x: T): T =>
  tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor
    return { value: tf.clone(input), gradFunc: () => zeroGradients([input]) }
  })(x) as T

/** Runs `f` on the inputs as one node of the gradient tape with zero gradient into each input. */
export const nonDifferentiable = <T extends tf.Tensor>(
  f: (...inputs: Array<tf.Tensor>) => T,
  ...inputs: Array<tf.Tensor>
): T =>
  tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const tensors = args.slice(0, inputs.length) as Array<tf.Tensor>
    return { value: f(...tensors), gradFunc: () => zeroGradients(tensors) }
  })(...inputs) as T
