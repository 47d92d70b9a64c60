/**
 * `metrics.jsonl` on disk: reading it back, and an append-only writer.
 *
 * Each event is one `write(2)` of a whole line on a file opened for append, so it reaches the operating system
 * before `append` returns and a killed process keeps every event it logged (no fsync per line: a power cut may
 * still lose the last few). Opening the writer rewrites the file atomically first:
 *
 *   fresh run                 the file starts empty
 *   resume from step N        events with step <= N are kept, later ones and a torn last line dropped,
 *                             so the resumed run's events follow without duplicates
 *
 * A checkpoint saved at step N is taken to include the events logged for step N.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { InputError } from "../errors.ts"
import type { TornLine } from "../jsonl/jsonl.ts"
import { writeFileAtomicSync } from "./atomic-write.ts"
import { formatMetricEvent, type MetricEvent, type ParsedMetrics, parseMetrics } from "./events.ts"

export const METRICS_FILE = "metrics.jsonl"

export const metricsFilePath = (runDir: string): string => path.join(runDir, METRICS_FILE)

const reasonOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Reads a metrics file; a torn last line is reported in `torn`. Throws `InputError` if unreadable or damaged. */
export const readMetricsFile = (file: string): ParsedMetrics => {
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch (error) {
    throw new InputError({ source: file, reason: `cannot read metrics: ${reasonOf(error)}` })
  }
  return parseMetrics(text, file)
}

export interface MetricsFileOptions {
  /** Resume a run from the checkpoint of this step: keep the events up to it and drop the rest. Unset: fresh run. */
  readonly resumeFromStep?: number
}

export interface MetricsFileWriter {
  readonly file: string
  /** The events kept from before the resume (empty for a fresh run). */
  readonly kept: ReadonlyArray<MetricEvent>
  /** The torn last line found and dropped when resuming, if there was one. */
  readonly torn: TornLine | undefined
  /** Appends one event as a line; throws the file system's error if the write fails. */
  readonly append: (event: MetricEvent) => void
  readonly close: () => void
}

/** One line per call; loops only if the kernel accepts part of it (it does not for regular files in practice). */
const writeAll = (fd: number, bytes: Buffer): void => {
  let offset = 0
  while (offset < bytes.length) offset += fs.writeSync(fd, bytes, offset)
}

const keptEvents = (file: string, resumeFromStep: number | undefined): ParsedMetrics => {
  if (resumeFromStep === undefined || !fs.existsSync(file)) return { events: [], torn: undefined }
  const { events, torn } = readMetricsFile(file)
  return { events: events.filter((event) => event.step <= resumeFromStep), torn }
}

/** Opens `<runDir>/metrics.jsonl` for a fresh or resumed run (see the file comment). Throws `InputError`. */
export const openMetricsFile = (runDir: string, options: MetricsFileOptions = {}): MetricsFileWriter => {
  const file = metricsFilePath(runDir)
  const { resumeFromStep } = options
  if (resumeFromStep !== undefined && (!Number.isSafeInteger(resumeFromStep) || resumeFromStep < 0)) {
    throw new InputError({ source: file, reason: `resumeFromStep must be an integer >= 0, got ${resumeFromStep}` })
  }
  const { events, torn } = keptEvents(file, resumeFromStep)
  let fd: number
  try {
    fs.mkdirSync(runDir, { recursive: true })
    writeFileAtomicSync(file, events.map(formatMetricEvent).join(""))
    fd = fs.openSync(file, "a")
  } catch (error) {
    throw new InputError({ source: file, reason: `cannot open metrics for writing: ${reasonOf(error)}` })
  }
  let open = true
  return {
    file,
    kept: events,
    torn,
    append: (event) => writeAll(fd, Buffer.from(formatMetricEvent(event), "utf8")),
    close: () => {
      if (open) fs.closeSync(fd)
      open = false
    },
  }
}
