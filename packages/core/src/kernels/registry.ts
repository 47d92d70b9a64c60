/**
 * Registering kernels over the stock tfjs ones, and putting the stock ones back.
 *
 * An override is `unregisterKernel` + `registerKernel` under the same name, keeping the stock `setupFunc` and
 * `disposeFunc` (on wasm they bind the C functions that a re-initialised backend needs). The first override of a
 * kernel remembers the stock config, so overriding again is idempotent and `restoreKernels` is exact.
 */
import * as tf from "@tensorflow/tfjs"

export type FastBackendName = "wasm" | "cpu"

const stock = new Map<string, tf.KernelConfig | undefined>()
const ours = new Map<string, tf.KernelConfig>()

const key = (kernelName: string, backendName: string) => `${backendName}_${kernelName}`

/** The stock config of a kernel (as it was before any override), or undefined when tfjs has none. */
export const stockKernel = (kernelName: string, backendName: FastBackendName): tf.KernelConfig | undefined => {
  const k = key(kernelName, backendName)
  return stock.has(k) ? stock.get(k) : tf.getKernel(kernelName, backendName)
}

/** Registers `kernelFunc` as `kernelName` on `backendName`, over the stock kernel when there is one. */
export const overrideKernel = (kernelName: string, backendName: FastBackendName, kernelFunc: tf.KernelFunc): void => {
  const k = key(kernelName, backendName)
  if (!stock.has(k)) stock.set(k, tf.getKernel(kernelName, backendName))
  const base = stock.get(k)
  if (tf.getKernel(kernelName, backendName) !== undefined) tf.unregisterKernel(kernelName, backendName)
  const config: tf.KernelConfig = {
    kernelName,
    backendName,
    kernelFunc,
    ...(base?.setupFunc === undefined ? {} : { setupFunc: base.setupFunc }),
    ...(base?.disposeFunc === undefined ? {} : { disposeFunc: base.disposeFunc }),
  }
  tf.registerKernel(config)
  ours.set(k, config)
}

/** Puts back the stock kernels of `backendName` (and removes the ones tfjs lacked). */
export const restoreKernels = (backendName: FastBackendName): void => {
  for (const [k, config] of ours) {
    if (config.backendName !== backendName) continue
    if (tf.getKernel(config.kernelName, backendName) === config) tf.unregisterKernel(config.kernelName, backendName)
    const base = stock.get(k)
    if (base !== undefined && tf.getKernel(config.kernelName, backendName) === undefined) tf.registerKernel(base)
    ours.delete(k)
  }
}

/** Names of the kernels currently overridden (or added) on `backendName`. */
export const overriddenKernels = (backendName: FastBackendName): ReadonlyArray<string> =>
  [...ours.values()].filter((config) => config.backendName === backendName).map((config) => config.kernelName)

/** Runs the kernel registered now as `kernelName` on `backendName` (nested kernel calls inside a kernel). */
export const callKernel = (
  kernelName: string,
  backendName: FastBackendName,
  backend: object,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo => {
  const config = tf.getKernel(kernelName, backendName)
  if (config === undefined) throw new Error(`kernel ${kernelName} is not registered for ${backendName}`)
  return config.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo
}
