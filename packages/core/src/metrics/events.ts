/**
 * Metric events of a training run and their JSONL form (ARCHITECTURE.md, "Data formats": `metrics.jsonl`, one event
 * per line).
 *
 *   {"step":120,"time":1718000000.123,"loss":2.31,"lr":0.0003}
 *
 * `step` is the optimiser step the values belong to, `time` the wall clock in Unix seconds (millisecond precision,
 * TensorBoard's `wall_time` convention), and the rest are the values. JSON has no NaN or ±Infinity: a non-finite
 * number is written as `null`, which the charts draw as a gap. A step may have several events (training values every
 * step, evaluation every hundred), so readers group by key, not by line.
 *
 * A torn last line (the process died in the middle of writing it) is reported, not thrown: every complete line
 * before it is still good. A malformed line anywhere else means the file was damaged and is an `InputError`.
 */
import { InputError } from "../errors.ts"

export type MetricValue = number | string | boolean | null

/** The values of one event, by name. `step` and `time` are reserved. */
export type MetricValues = Readonly<Record<string, MetricValue>>

export interface MetricEvent {
  readonly step: number
  readonly time: number
  readonly [name: string]: MetricValue
}

/** The unfinished last line of a file whose writer died mid-line. */
export interface TornLine {
  /** 1-based line number. */
  readonly lineNumber: number
  readonly text: string
}

export interface ParsedMetrics {
  readonly events: ReadonlyArray<MetricEvent>
  /** Set when the file ends in a line that is neither complete nor valid JSON; its content is dropped. */
  readonly torn: TornLine | undefined
}

const reserved = new Set(["step", "time"])

/** Builds the event `{step, time, ...values}`; throws `InputError` for a bad step or a reserved value name. */
export const metricEvent = (step: number, time: number, values: MetricValues): MetricEvent => {
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new InputError({ source: "metrics", reason: `step must be an integer >= 0, got ${step}` })
  }
  const event: Record<string, MetricValue> = { step, time }
  for (const [name, value] of Object.entries(values)) {
    if (reserved.has(name)) {
      throw new InputError({
        source: "metrics",
        reason: `"${name}" is reserved for the event itself; rename the value`,
      })
    }
    event[name] = value
  }
  return event as MetricEvent
}

/** One JSONL line, newline included. */
export const formatMetricEvent = (event: MetricEvent): string => `${JSON.stringify(event)}\n`

const isMetricValue = (value: unknown): value is MetricValue =>
  value === null || typeof value === "number" || typeof value === "string" || typeof value === "boolean"

/** The event on one line, or a reason it is not one. */
const parseLine = (line: string): MetricEvent | string => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not a JSON object"
  const record = value as Record<string, unknown>
  if (typeof record.step !== "number" || !Number.isSafeInteger(record.step) || record.step < 0) {
    return `"step" must be an integer >= 0`
  }
  if (typeof record.time !== "number") return `"time" must be a number`
  for (const [name, field] of Object.entries(record)) {
    if (!isMetricValue(field)) return `value "${name}" is not a number, string, boolean or null`
  }
  return record as MetricEvent
}

/** Parses the text of a metrics file; `source` names it in errors. */
export const parseMetrics = (text: string, source: string): ParsedMetrics => {
  const lines = text.split("\n")
  const events: Array<MetricEvent> = []
  let torn: TornLine | undefined
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    if (line.trim() === "") continue
    const parsed = parseLine(line)
    if (typeof parsed !== "string") {
      events.push(parsed)
    } else if (i === lines.length - 1) {
      torn = { lineNumber: i + 1, text: line }
    } else {
      throw new InputError({ source: `${source}:${i + 1}`, reason: `malformed metrics event: ${parsed}` })
    }
  }
  return { events, torn }
}
