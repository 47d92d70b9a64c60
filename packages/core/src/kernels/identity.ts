/**
 * Identity on wasm without a copy (docs/compute.md §6): the output shares the input's heap data, with one more
 * reference on it, exactly as the stock wasm Reshape does.
 *
 *   out = x      (same dataId, refCount + 1; freeing either leaves the other valid)
 *
 * Safe because tfjs tensors are immutable: no kernel writes into an input, and every kernel of this project writes
 * only into outputs it allocated. The stock kernel copies every element; the gradients of add, reshape-free ops
 * and `tf.clone` call it ~1,700 times in a small-preset training step. Strings go to the stock kernel.
 */
import type * as tf from "@tensorflow/tfjs"
import { stockKernel } from "./registry.ts"

interface RefCounting {
  incRef(dataId: object): void
}

/** The Identity kernel function for "wasm". */
export const wasmIdentity: tf.KernelFunc = (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo }
  if (x.dtype === "string") {
    const config = stockKernel("Identity", "wasm")
    if (config === undefined) throw new Error("tfjs-backend-wasm registers no Identity kernel")
    return config.kernelFunc(args)
  }
  ;(args.backend as unknown as RefCounting).incRef(x.dataId)
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype }
}
