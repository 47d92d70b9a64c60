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
import { type JsonlDecoded, parseJsonlText, type TornLine } from "../jsonl/jsonl.ts"

export type MetricValue = number | string | boolean | null

/** The values of one event, by name. `step` and `time` are reserved. */
export type MetricValues = Readonly<Record<string, MetricValue>>

export interface MetricEvent {
  readonly step: number
  readonly time: number
  readonly [name: string]: MetricValue
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

/** A parsed JSON value as an event, or the reason it is not one. */
const decodeEvent = (value: unknown): JsonlDecoded<MetricEvent> => {
  const bad = (reason: string): JsonlDecoded<MetricEvent> => ({
    ok: false,
    reason: `malformed metrics event: ${reason}`,
  })
  if (typeof value !== "object" || value === null || Array.isArray(value)) return bad("not a JSON object")
  const record = value as Record<string, unknown>
  if (typeof record.step !== "number" || !Number.isSafeInteger(record.step) || record.step < 0) {
    return bad(`"step" must be an integer >= 0`)
  }
  if (typeof record.time !== "number") return bad(`"time" must be a number`)
  for (const [name, field] of Object.entries(record)) {
    if (!isMetricValue(field)) return bad(`value "${name}" is not a number, string, boolean or null`)
  }
  return { ok: true, value: record as MetricEvent }
}

/** Parses the text of a metrics file (core's JSONL reader); `source` names it in errors. */
export const parseMetrics = (text: string, source: string): ParsedMetrics => {
  const { records, torn } = parseJsonlText(text, source, decodeEvent)
  return { events: records.map((r) => r.value), torn }
}
