import { expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { ConfigProvider, Effect, Layer } from "effect"
import { describe } from "vitest"
import { Backend, BackendUnavailableError, describeBackend, initBackend } from "../src/index.ts"

// The tensorflow backend (tfjs-node / tfjs-node-gpu) cannot be installed on these machines (its install downloads
// libtensorflow), so these tests see it absent, as CI does; the wasm and cpu backends are real.

const withEnv = <A, E>(env: Record<string, string>, effect: Effect.Effect<A, E, Backend>) =>
  effect.pipe(
    Effect.provide(Backend.layer.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env))))),
  )
const backendName = Effect.gen(function* () {
  return (yield* Backend).name
})

describe("backend selection", () => {
  it("starts the stock cpu backend when asked", async () => {
    const info = await initBackend("cpu")
    expect(info.name).toBe("cpu")
    expect(tf.getBackend()).toBe("cpu")
  })

  it("starts wasm with SIMD and reports its threads", async () => {
    const info = await initBackend("wasm")
    expect(info.name).toBe("wasm")
    expect(tf.getBackend()).toBe("wasm")
    expect(info.simd).toBe(true)
    expect(info.threads).toBeGreaterThanOrEqual(1)
    expect(describeBackend(info)).toMatch(/^wasm via @tensorflow\/tfjs-backend-wasm; 1 thread/)
  })

  it("asking for tensorflow when it is absent fails with a typed error that says how to install it", async () => {
    const error = await initBackend("tensorflow").then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(BackendUnavailableError)
    const message = (error as BackendUnavailableError).message
    expect(message).toContain("@tensorflow/tfjs-node-gpu")
    expect(message).toContain("CUDA 11.2")
    expect(message).toContain("TFJS_NODE_BASE_URI")
  })

  it("auto falls back to wasm when tensorflow does not load", async () => {
    const info = await initBackend("auto")
    expect(info.name).toBe("wasm")
  })

  it.effect("the Backend layer reads DS_BACKEND", () =>
    Effect.gen(function* () {
      expect(yield* withEnv({ DS_BACKEND: "cpu" }, backendName)).toBe("cpu")
      expect(yield* withEnv({}, backendName)).toBe("wasm")
    }),
  )

  it.effect("the Backend layer rejects an unknown DS_BACKEND and fails typed for a missing tensorflow", () =>
    Effect.gen(function* () {
      const unknown = yield* Effect.flip(withEnv({ DS_BACKEND: "gpu" }, backendName))
      expect(String(unknown)).toMatch(/DS_BACKEND/)
      const error = yield* Effect.flip(withEnv({ DS_BACKEND: "tensorflow" }, backendName))
      expect(error._tag).toBe("BackendUnavailableError")
    }),
  )
})
