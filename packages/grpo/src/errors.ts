/**
 * Errors of the GRPO package beyond the shared ones in `@ds/core`.
 */
import { ConfigError, InputError, ShapeError } from "@ds/core"
import { Effect, Schema } from "effect"

/** A file of a run (rollouts, metrics, checkpoint, summary) could not be written or read. */
export class RunFileError extends Schema.TaggedError<RunFileError>()("RunFileError", {
  path: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

/**
 * Runs synchronous numeric code from an Effect: the typed errors it throws (shape, input, config) become typed
 * failures; anything else is an `InputError` naming `label`.
 */
export const numeric = <A>(label: string, run: () => A): Effect.Effect<A, ShapeError | InputError | ConfigError> =>
  Effect.try({
    try: run,
    catch: (error) =>
      error instanceof ShapeError || error instanceof InputError || error instanceof ConfigError
        ? error
        : new InputError({ source: label, reason: error instanceof Error ? error.message : String(error) }),
  })
