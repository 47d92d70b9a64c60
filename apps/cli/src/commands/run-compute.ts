/**
 * What every computing command shares: start the tensor backend the user chose, render progress as bars, and turn
 * a plain progress callback into updates of the Progress service.
 */
import { Backend, type BackendChoice, Progress, type ProgressUpdate } from "@ds/core"
import { Context, Effect, Layer } from "effect"

/** The layers a computing command runs in: the chosen backend (logged once) and terminal progress bars. */
export const computeLayer = (backend: BackendChoice) =>
  Layer.mergeAll(Backend.layerChoice(backend), Progress.layerTerminal())

/**
 * A synchronous callback that forwards to the Progress service, for numeric code that reports progress from
 * inside a synchronous loop (no Effect in hot loops). The bridge runs the service's (synchronous, infallible)
 * update with the services of the calling program — its Clock included, so a TestClock drives it in tests — not
 * with a fresh default runtime.
 */
export const progressCallback = Effect.gen(function* () {
  const context = yield* Effect.context<Progress>()
  const progress = Context.get(context, Progress)
  const run = Effect.runSyncWith(context)
  return {
    update: (update: ProgressUpdate) => run(progress.update(update)),
    finish: (task: string) => run(progress.finish(task)),
  }
})
