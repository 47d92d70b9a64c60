/**
 * The metrics of a training run as an Effect service: trainers `yield* Metrics` and log one event per step.
 *
 *   Metrics.layer(runDir)                          <runDir>/metrics.jsonl, opened and closed with the layer's scope
 *   Metrics.layer(runDir, { resumeFromStep: N })   keeps the events up to step N, drops later ones and a torn line
 *   Metrics.layerMemory                            the same service over an in-memory list (tests, dry runs)
 *
 * Timestamps come from `Clock`, so `TestClock` controls them in tests. `log` cannot fail: a bad step or a reserved
 * value name is a bug in the caller and a failed write (disk full) leaves the run without its record; both are
 * defects.
 */
import { Clock, Context, Effect, Layer } from "effect"
import { InputError } from "../errors.ts"
import { type MetricEvent, type MetricValues, metricEvent } from "./events.ts"
import { type MetricsFileOptions, openMetricsFile } from "./metrics-file.ts"

export interface MetricsShape {
  /** Records `{step, time: now, ...values}`; with the file layer the line is written before this completes. */
  readonly log: (step: number, values: MetricValues) => Effect.Effect<void>
  /** Every event of the run so far in order, including those kept from before a resume. */
  readonly events: Effect.Effect<ReadonlyArray<MetricEvent>>
}

/** The service over a list of events; `write` sends each new event to its destination first. */
const makeMetrics = (kept: ReadonlyArray<MetricEvent>, write: (event: MetricEvent) => void): MetricsShape => {
  const events = [...kept]
  return {
    log: Effect.fn("Metrics.log")(function* (step: number, values: MetricValues) {
      const millis = yield* Clock.currentTimeMillis
      const event = metricEvent(step, millis / 1000, values)
      write(event)
      events.push(event)
    }),
    events: Effect.sync(() => events.slice()),
  }
}

const openFile = (runDir: string, options: MetricsFileOptions) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => openMetricsFile(runDir, options),
      catch: (error) =>
        error instanceof InputError ? error : new InputError({ source: runDir, reason: String(error) }),
    }),
    (writer) => Effect.sync(() => writer.close()),
  )

export class Metrics extends Context.Service<Metrics, MetricsShape>()("@ds/core/Metrics") {
  /** Events appended to `<runDir>/metrics.jsonl` (created with its folder if needed). */
  static readonly layer = (runDir: string, options: MetricsFileOptions = {}): Layer.Layer<Metrics, InputError> =>
    Layer.effect(
      Metrics,
      Effect.gen(function* () {
        const writer = yield* openFile(runDir, options)
        if (writer.torn !== undefined) {
          yield* Effect.logWarning(
            `${writer.file}:${writer.torn.lineNumber}: dropped a torn last line (the previous run stopped mid-write)`,
          )
        }
        return makeMetrics(writer.kept, writer.append)
      }),
    )

  /** Events kept in memory only; each build of the layer starts empty. */
  static readonly layerMemory: Layer.Layer<Metrics> = Layer.effect(
    Metrics,
    Effect.sync(() => makeMetrics([], () => undefined)),
  )
}
