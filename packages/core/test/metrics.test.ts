import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { InputError } from "../src/errors.ts"
import { metricEvent, parseMetrics } from "../src/metrics/events.ts"
import { metricsFilePath, openMetricsFile, readMetricsFile } from "../src/metrics/metrics-file.ts"

const runDirs: Array<string> = []
const makeRunDir = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-metrics-"))
  runDirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of runDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

/** Logs `steps` events {step, time: step, loss: 1/(step+1)} to a fresh or resumed run. */
const logSteps = (runDir: string, steps: ReadonlyArray<number>, resumeFromStep?: number) => {
  const writer = openMetricsFile(runDir, resumeFromStep === undefined ? {} : { resumeFromStep })
  for (const step of steps) writer.append(metricEvent(step, step, { loss: 1 / (step + 1) }))
  writer.close()
  return writer
}

describe("metrics.jsonl", () => {
  it("round trip: the events read back are the events written, one JSON object per line", () => {
    const runDir = makeRunDir()
    const events = [
      metricEvent(0, 1718000000.5, { loss: 2.5, lr: 3e-4, phase: "warmup", clipped: false }),
      metricEvent(1, 1718000001.25, { loss: 2.25, note: null }),
      metricEvent(1, 1718000001.5, { "eval/loss": 2.75 }),
    ]
    const writer = openMetricsFile(runDir)
    for (const event of events) writer.append(event)
    writer.close()
    const text = fs.readFileSync(metricsFilePath(runDir), "utf8")
    expect(text.split("\n")).toHaveLength(4) // three lines and the final newline
    expect(text.split("\n")[0]).toBe(
      '{"step":0,"time":1718000000.5,"loss":2.5,"lr":0.0003,"phase":"warmup","clipped":false}',
    )
    expect(readMetricsFile(metricsFilePath(runDir))).toEqual({ events, torn: undefined })
  })

  it("each event is in the file as soon as append returns, before close", () => {
    const runDir = makeRunDir()
    const writer = openMetricsFile(runDir)
    writer.append(metricEvent(0, 0, { loss: 1 }))
    expect(readMetricsFile(writer.file).events).toHaveLength(1)
    writer.append(metricEvent(1, 1, { loss: 0.5 }))
    expect(readMetricsFile(writer.file).events).toHaveLength(2)
    writer.close()
  })

  it("non-finite values are written as null (JSON has no NaN)", () => {
    const runDir = makeRunDir()
    const writer = openMetricsFile(runDir)
    writer.append(metricEvent(0, 0, { loss: Number.NaN, grad: Number.POSITIVE_INFINITY }))
    writer.close()
    expect(readMetricsFile(writer.file).events[0]).toEqual({ step: 0, time: 0, loss: null, grad: null })
  })

  it("a torn last line (a crash mid-write) is reported, and every complete line before it is kept", () => {
    const text = '{"step":0,"time":0,"loss":1}\n{"step":1,"time":1,"loss":0.5}\n{"step":2,"time":2,"lo'
    const parsed = parseMetrics(text, "metrics.jsonl")
    expect(parsed.events.map((e) => e.step)).toEqual([0, 1])
    expect(parsed.torn).toEqual({ lineNumber: 3, text: '{"step":2,"time":2,"lo' })
  })

  it("a malformed line before the last is damage, not a torn write: InputError naming the line", () => {
    const text = '{"step":0,"time":0}\n{"step":1,"ti\n{"step":2,"time":2}\n'
    expect(() => parseMetrics(text, "run/metrics.jsonl")).toThrow(InputError)
    expect(() => parseMetrics(text, "run/metrics.jsonl")).toThrow(/run\/metrics\.jsonl:2/)
    expect(() => parseMetrics('{"time":0}\n', "m")).toThrow(/step/)
  })

  it("resuming from step N keeps the events up to N, drops later ones and a torn line, and appends after them", () => {
    const runDir = makeRunDir()
    logSteps(runDir, [0, 1, 2, 3, 4, 5])
    fs.appendFileSync(metricsFilePath(runDir), '{"step":6,"ti') // killed mid-write
    const resumed = logSteps(runDir, [4, 5, 6], 3) // checkpoint at step 3: steps 4.. are run again
    expect(resumed.kept.map((e) => e.step)).toEqual([0, 1, 2, 3])
    expect(resumed.torn?.text).toBe('{"step":6,"ti')
    const { events, torn } = readMetricsFile(metricsFilePath(runDir))
    expect(events.map((e) => e.step)).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect(torn).toBeUndefined()
  })

  it("a fresh run starts an empty file, whatever was there before", () => {
    const runDir = makeRunDir()
    logSteps(runDir, [0, 1, 2])
    logSteps(runDir, [0])
    expect(readMetricsFile(metricsFilePath(runDir)).events.map((e) => e.step)).toEqual([0])
  })

  it("resuming a run with no metrics file yet starts one; the run folder is created", () => {
    const runDir = path.join(makeRunDir(), "nested", "run")
    logSteps(runDir, [5], 4)
    expect(readMetricsFile(metricsFilePath(runDir)).events.map((e) => e.step)).toEqual([5])
  })

  it("rejects reserved value names, bad steps and a missing file with InputError", () => {
    expect(() => metricEvent(0, 0, { step: 3 })).toThrow(InputError)
    expect(() => metricEvent(-1, 0, {})).toThrow(InputError)
    expect(() => metricEvent(0.5, 0, {})).toThrow(InputError)
    expect(() => readMetricsFile(path.join(makeRunDir(), "metrics.jsonl"))).toThrow(InputError)
    expect(() => openMetricsFile(makeRunDir(), { resumeFromStep: -2 })).toThrow(InputError)
  })
})
