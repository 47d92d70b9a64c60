/**
 * What every computing command shares: start the tensor backend the user chose, render progress as bars, and turn
 * a plain progress callback into updates of the Progress service.
 */
import { Backend, type BackendChoice, Progress, type ProgressUpdate } from "@ds/core"
import { Effect, Layer } from "effect"

/** The layers a computing command runs in: the chosen backend (logged once) and terminal progress bars. */
export const computeLayer = (backend: BackendChoice) =>
  Layer.mergeAll(Backend.layerChoice(backend), Progress.layerTerminal())

/**
 * A synchronous callback that forwards to the Progress service, for numeric code that reports progress from
 * inside a synchronous loop (no Effect in hot loops).
 */
export const progressCallback = Effect.gen(function* () {
  const progress = yield* Progress
  return {
    update: (update: ProgressUpdate) => Effect.runSync(progress.update(update)),
    finish: (task: string) => Effect.runSync(progress.finish(task)),
  }
})
