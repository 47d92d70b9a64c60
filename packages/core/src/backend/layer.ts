/**
 * The tensor backend as an Effect service. Programs that compute `yield* Backend` and get the started backend's
 * description; the layer starts it once (from `DS_BACKEND`, or an explicit choice) and logs the choice. When the
 * layer's scope closes it logs (debug level) how many tensors made under it are still alive: a leak detector.
 */
import * as tf from "@tensorflow/tfjs"
import { Config, Context, Effect, Layer, Schema } from "effect"
import { BackendUnavailableError } from "../errors.ts"
import { type BackendChoice, type BackendInfo, backendChoices, describeBackend, initBackend } from "./backend.ts"

export class Backend extends Context.Service<Backend, BackendInfo>()("@ds/core/Backend") {
  /** Starts the given backend (`auto` when omitted). */
  static readonly layerChoice = (choice: BackendChoice = "auto", options: { readonly stockKernels?: boolean } = {}) =>
    Layer.effect(
      Backend,
      Effect.gen(function* () {
        const info = yield* Effect.tryPromise({
          try: () => initBackend(choice, options),
          catch: (error) =>
            error instanceof BackendUnavailableError
              ? error
              : new BackendUnavailableError({ backend: choice, reason: String(error), hint: "Try DS_BACKEND=cpu." }),
        })
        yield* Effect.logInfo(`tensor backend: ${describeBackend(info)}`)
        // The programs run under this layer scope their own tensors; what is still alive when it closes leaked.
        const before = tf.memory().numTensors
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            const leaked = tf.memory().numTensors - before
            return leaked > 0 ? Effect.logDebug(`${leaked} tensors outlived the programs of this backend`) : Effect.void
          }),
        )
        return info
      }),
    )

  /** Starts the backend named by `DS_BACKEND` (auto | tensorflow | wasm | cpu; default auto). */
  static readonly layer = Layer.unwrap(
    Effect.gen(function* () {
      const choice = yield* Config.schema(Schema.Literals(backendChoices), "DS_BACKEND").pipe(
        Config.withDefault("auto" as const),
      )
      return Backend.layerChoice(choice)
    }),
  )
}
