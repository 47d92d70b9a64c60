/**
 * Charts of a run's curves from its `metrics.jsonl`, written beside it as `<name>.svg` (ARCHITECTURE.md, "Data
 * formats": rendered plots of the curves a user would look at).
 *
 * Each named metric is one series of (x, value) over the events that carry it, x being `step` unless another key is
 * named; events without the metric are skipped (evaluation logged every hundred steps is one continuous line), and a
 * `null` value (a NaN or ±Infinity when logged) is a gap. Each file is written atomically, so a dashboard never
 * reads half a chart. A torn last line of the metrics file is ignored, as the next resume will drop it.
 */
import * as path from "node:path"
import { Effect } from "effect"
import { InputError } from "../errors.ts"
import { writeFileAtomicSync } from "./atomic-write.ts"
import type { MetricEvent } from "./events.ts"
import { type ChartPoint, type LineSeries, renderLineChart } from "./line-chart.ts"
import { metricsFilePath, readMetricsFile } from "./metrics-file.ts"

export interface MetricsChart {
  /** File name without `.svg`; letters, digits, `.`, `_` and `-` only. */
  readonly name: string
  /** The event keys to draw, one series each. */
  readonly metrics: ReadonlyArray<string>
  /** Default: the metric names joined by ", ". */
  readonly title?: string
  /** The event key on the x axis; default "step". */
  readonly x?: string
  /** Default: the metric name when there is one, else "value". */
  readonly yLabel?: string
  readonly logY?: boolean
  /** EMA weight in [0, 1) (see `renderLineChart`). */
  readonly smoothing?: number
}

const FILE_NAME = /^[A-Za-z0-9._-]+$/

/** The series of `metric` against `x` over the events that carry both. */
export const metricSeries = (events: ReadonlyArray<MetricEvent>, metric: string, x = "step"): LineSeries => {
  const points: Array<ChartPoint> = []
  for (const event of events) {
    const xValue = event[x]
    const yValue = event[metric]
    if (typeof xValue !== "number" || yValue === undefined) continue
    points.push([xValue, typeof yValue === "number" ? yValue : null])
  }
  return { name: metric, points }
}

/** The SVG of one chart of `events`. */
export const renderMetricsChart = (events: ReadonlyArray<MetricEvent>, chart: MetricsChart): string => {
  const x = chart.x ?? "step"
  const only = chart.metrics.length === 1 ? chart.metrics[0] : undefined
  return renderLineChart({
    title: chart.title ?? chart.metrics.join(", "),
    x: { label: x },
    y: { label: chart.yLabel ?? only ?? "value", log: chart.logY === true },
    series: chart.metrics.map((metric) => metricSeries(events, metric, x)),
    ...(chart.smoothing === undefined ? {} : { smoothing: chart.smoothing }),
  })
}

const asInputError = (source: string) => (error: unknown) =>
  error instanceof InputError
    ? error
    : new InputError({ source, reason: error instanceof Error ? error.message : String(error) })

/** Renders each chart from `<runDir>/metrics.jsonl` to `<runDir>/<name>.svg`; returns the files written. */
export const plotMetrics = Effect.fn("plotMetrics")(function* (runDir: string, charts: ReadonlyArray<MetricsChart>) {
  for (const chart of charts) {
    if (!FILE_NAME.test(chart.name)) {
      return yield* Effect.fail(
        new InputError({
          source: `chart "${chart.name}"`,
          reason: "name must use only letters, digits, '.', '_' and '-'",
        }),
      )
    }
  }
  const file = metricsFilePath(runDir)
  const { events } = yield* Effect.try({ try: () => readMetricsFile(file), catch: asInputError(file) })
  const written: Array<string> = []
  for (const chart of charts) {
    const target = path.join(runDir, `${chart.name}.svg`)
    yield* Effect.try({
      try: () => writeFileAtomicSync(target, renderMetricsChart(events, chart)),
      catch: asInputError(target),
    })
    written.push(target)
  }
  return written as ReadonlyArray<string>
})
