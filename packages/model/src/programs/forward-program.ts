/**
 * `ds forward`: runs the calls of an inputs file (the format of `golden/base/inputs.json`) through a checkpoint,
 * carrying the KV cache from call to call, and writes per call, with the meaning and shapes of the golden data:
 *
 *   {call}.logits                              [B, V]        last-position logits
 *   {call}.layers.{l}.indexer.attend_mask      [B, S, E]     1.0 where key s is attended (selected ∧ causal)
 *   {call}.layers.{l}.gate.dense_weights       [B·S, E_r]    routing weights, zero off the chosen experts (MoE layers)
 *
 * Inputs: `{ calls: [{ name, start_pos, tokens: B x S }] }` (other fields ignored).
 */
import { readFile } from "node:fs/promises"
import { indicesToMask } from "@ds/attention"
import { type CheckpointError, type ConfigError, InputError, SafetensorsError, writeSafetensors } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { Effect, Schema } from "effect"
import type { AttentionPath } from "../attention-path.ts"
import { acquireCheckpoint } from "../checkpoint.ts"
import {
  createModelCache,
  disposeForward,
  disposeModelCache,
  forward,
  type Model,
  type ModelCache,
} from "../transformer.ts"

export const ForwardCall = Schema.Struct({
  name: Schema.String,
  start_pos: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  tokens: Schema.Array(Schema.Array(Schema.Int)),
})
export type ForwardCall = typeof ForwardCall.Type

export const ForwardInputs = Schema.Struct({ calls: Schema.Array(ForwardCall) })

export interface ForwardProgramOptions {
  /** Checkpoint folder (config.json + model.safetensors). */
  readonly checkpoint: string
  /** Inputs JSON file path. */
  readonly inputs: string
  /** Output safetensors path. */
  readonly out: string
  /** Attention path (attention-path.ts). Default: the process default ("auto"). */
  readonly attention?: AttentionPath
  /** Called after each call with its name and index (for a progress bar). */
  readonly onCall?: (event: { readonly name: string; readonly index: number; readonly total: number }) => void
}

const readInputs = (path: string) =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (e) => new InputError({ source: path, reason: `cannot read: ${String(e)}` }),
    })
    const raw = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => new InputError({ source: path, reason: `not JSON: ${String(e)}` }),
    })
    return yield* Schema.decodeUnknownEffect(ForwardInputs)(raw).pipe(
      Effect.mapError((e) => new InputError({ source: path, reason: e.message })),
    )
  })

const checkCall = (call: ForwardCall, batch: number): number => {
  const width = call.tokens[0]?.length ?? 0
  if (call.tokens.length !== batch || width === 0 || call.tokens.some((row) => row.length !== width))
    throw new InputError({
      source: `call ${call.name}`,
      reason: `tokens must be ${batch} rows of equal, non-zero length`,
    })
  return width
}

/** Runs one call and returns its named output tensors (the caller disposes them). */
export const runForwardCall = (
  model: Model,
  cache: ModelCache,
  call: ForwardCall,
  attention?: AttentionPath,
): Map<string, tf.Tensor> => {
  const batch = cache.layers[0]?.lengths.length ?? 0
  const width = checkCall(call, batch)
  const tokens = tf.tensor2d(call.tokens.flat(), [batch, width], "int32")
  const result = forward(model, tokens, {
    cache,
    startPos: call.start_pos,
    capture: true,
    ...(attention === undefined ? {} : { attention }),
  })
  tokens.dispose()
  const out = new Map<string, tf.Tensor>([[`${call.name}.logits`, tf.clone(result.logits)]])
  result.layers?.forEach((layer, l) => {
    out.set(
      `${call.name}.layers.${l}.indexer.attend_mask`,
      tf.tidy(() => indicesToMask(layer.indices, layer.keyCount).cast("float32")),
    )
    if (layer.denseWeights !== undefined)
      out.set(`${call.name}.layers.${l}.gate.dense_weights`, tf.clone(layer.denseWeights))
  })
  disposeForward(result)
  return out
}

/** Runs every call of `calls` in order on one cache; returns all outputs. */
export const runForwardCalls = (
  model: Model,
  calls: ReadonlyArray<ForwardCall>,
  onCall?: ForwardProgramOptions["onCall"],
  attention?: AttentionPath,
): Map<string, tf.Tensor> => {
  const batch = calls[0]?.tokens.length ?? 0
  const capacity = Math.max(1, ...calls.map((c) => c.start_pos + (c.tokens[0]?.length ?? 0)))
  const cache = createModelCache(model.config, batch, Math.max(capacity, model.config.max_seq_len))
  const outputs = new Map<string, tf.Tensor>()
  try {
    calls.forEach((call, index) => {
      for (const [name, t] of runForwardCall(model, cache, call, attention)) outputs.set(name, t)
      onCall?.({ name: call.name, index, total: calls.length })
    })
  } catch (error) {
    tf.dispose([...outputs.values()])
    throw error
  } finally {
    disposeModelCache(cache)
  }
  return outputs
}

/**
 * `ds forward --checkpoint DIR --inputs inputs.json --out out.safetensors`. Returns the written names. The model's
 * parameters and the output tensors are scoped: freed on success, failure and interruption alike.
 */
export const forwardProgram = (
  options: ForwardProgramOptions,
): Effect.Effect<ReadonlyArray<string>, InputError | CheckpointError | ConfigError | SafetensorsError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const inputs = yield* readInputs(options.inputs)
      const outputs = yield* Effect.acquireRelease(
        // The parameters live in an inner scope: freed as soon as the outputs are computed.
        Effect.scoped(
          Effect.flatMap(acquireCheckpoint(options.checkpoint), ({ config, params }) =>
            Effect.try({
              try: () => runForwardCalls({ config, params }, inputs.calls, options.onCall, options.attention),
              catch: (e) =>
                e instanceof InputError ? e : new InputError({ source: options.inputs, reason: String(e) }),
            }),
          ),
        ),
        (outputs) => Effect.sync(() => tf.dispose([...outputs.values()])),
      )
      yield* Effect.tryPromise({
        try: () => writeSafetensors(options.out, outputs),
        catch: (e) => (e instanceof SafetensorsError ? e : new InputError({ source: options.out, reason: String(e) })),
      })
      return [...outputs.keys()]
    }),
  )
