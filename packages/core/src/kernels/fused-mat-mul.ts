/**
 * _FusedMatMul for the wasm backend: the fast BatchMatMul, then bias and activation.
 *
 *   out = act(op(a) @ op(b) + bias)      a: [batchA, m, k], b: [batchB, k, n] (tf.fused.matMul reshapes to 3-D)
 *
 * `tf.fused.matMul` (and the tfjs-layers Dense layer through it) runs this kernel in the forward pass; its
 * gradient uses BatchMatMul. Stock wasm fuses bias and activation into XNNPACK for one untransposed product and
 * falls to the scalar loop otherwise; without native BLAS that one fused case stays stock, everything else is
 * the fast product followed by the wasm Add and activation kernels (the composite tfjs's fused_util defines).
 */
import type * as tf from "@tensorflow/tfjs"
import type { NativeBlas } from "../native/addon.ts"
import { fastMatMul } from "./batch-mat-mul.ts"
import { callKernel, stockKernel } from "./registry.ts"
import { asWasm, disposeInfos, type WasmBackend } from "./wasm-internals.ts"

interface FusedAttrs {
  readonly transposeA: boolean
  readonly transposeB: boolean
  readonly activation: string
  readonly leakyreluAlpha?: number
}

const activationKernels: Readonly<Record<string, string>> = {
  relu: "Relu",
  relu6: "Relu6",
  elu: "Elu",
  sigmoid: "Sigmoid",
}

const applyActivation = (
  backend: WasmBackend,
  x: tf.TensorInfo,
  attrs: FusedAttrs,
  preluWeights: tf.TensorInfo | undefined,
): tf.TensorInfo => {
  const { activation } = attrs
  if (activation === "linear") return x
  const simple = activationKernels[activation]
  if (simple !== undefined) return callKernel(simple, "wasm", backend, { x })
  if (activation === "leakyrelu")
    return callKernel("LeakyRelu", "wasm", backend, { x }, { alpha: attrs.leakyreluAlpha ?? 0.2 })
  if (activation === "prelu" && preluWeights !== undefined) {
    return callKernel("Prelu", "wasm", backend, { x, alpha: preluWeights })
  }
  throw new Error(`_FusedMatMul: unknown fused activation ${activation}`)
}

const isPlainProduct = (a: tf.TensorInfo, b: tf.TensorInfo, attrs: FusedAttrs) =>
  !attrs.transposeA &&
  !attrs.transposeB &&
  a.shape.slice(0, -2).every((d) => d === 1) &&
  b.shape.slice(0, -2).every((d) => d === 1)

/** The _FusedMatMul kernel function for "wasm"; `blas()` gives the native BLAS when it is in use. */
export const wasmFusedMatMul =
  (blas: () => NativeBlas | undefined): tf.KernelFunc =>
  (args) => {
    const backend = asWasm(args.backend)
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>
    const attrs = args.attrs as unknown as FusedAttrs
    if (a === undefined || b === undefined) throw new Error("_FusedMatMul: inputs a and b are required")
    const native = blas()
    const stock = stockKernel("_FusedMatMul", "wasm")
    const stockHandles = bias === undefined || bias.shape.length === 1
    if (native === undefined && stock !== undefined && stockHandles && isPlainProduct(a, b, attrs)) {
      return stock.kernelFunc(args)
    }
    const steps: Array<tf.TensorInfo> = []
    const product = fastMatMul(backend, a, b, attrs.transposeA, attrs.transposeB, native)
    steps.push(product)
    const biased = bias === undefined ? product : callKernel("Add", "wasm", backend, { a: product, b: bias })
    if (biased !== product) steps.push(biased)
    const out = applyActivation(backend, biased, attrs, preluActivationWeights)
    disposeInfos(
      backend,
      steps.filter((s) => s !== out),
    )
    return out
  }
