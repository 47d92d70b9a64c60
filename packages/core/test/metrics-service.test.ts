import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { afterEach, describe } from "vitest"
import { InputError } from "../src/errors.ts"
import { metricsFilePath, readMetricsFile } from "../src/metrics/metrics-file.ts"
import { Metrics } from "../src/metrics/service.ts"

const runDirs: Array<string> = []
const makeRunDir = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-metrics-service-"))
  runDirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of runDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

const stepsOnDisk = (runDir: string): ReadonlyArray<number> =>
  readMetricsFile(metricsFilePath(runDir)).events.map((event) => event.step)

describe("Metrics service", () => {
  it.effect("stamps each event with the Clock's time in seconds", () =>
    Effect.gen(function* () {
      const metrics = yield* Metrics
      yield* metrics.log(0, { loss: 2 })
      yield* TestClock.adjust(1500)
      yield* metrics.log(1, { loss: 1 })
      expect(yield* metrics.events).toEqual([
        { step: 0, time: 0, loss: 2 },
        { step: 1, time: 1.5, loss: 1 },
      ])
    }).pipe(Effect.provide(Metrics.layerMemory)),
  )

  it.effect("each build of the memory layer starts empty", () =>
    Effect.gen(function* () {
      const log = Effect.gen(function* () {
        const metrics = yield* Metrics
        yield* metrics.log(0, { loss: 1 })
        return (yield* metrics.events).length
      })
      expect(yield* log.pipe(Effect.provide(Metrics.layerMemory))).toBe(1)
      expect(yield* log.pipe(Effect.provide(Metrics.layerMemory))).toBe(1)
    }),
  )

  it.effect("the file layer writes each event through to metrics.jsonl before log completes", () =>
    Effect.gen(function* () {
      const runDir = makeRunDir()
      yield* Effect.gen(function* () {
        const metrics = yield* Metrics
        yield* metrics.log(0, { loss: 3 })
        expect(stepsOnDisk(runDir)).toEqual([0])
        yield* metrics.log(1, { loss: 2 })
        expect(stepsOnDisk(runDir)).toEqual([0, 1])
      }).pipe(Effect.provide(Metrics.layer(runDir)))
      expect(readMetricsFile(metricsFilePath(runDir)).events).toEqual([
        { step: 0, time: 0, loss: 3 },
        { step: 1, time: 0, loss: 2 },
      ])
    }),
  )

  it.effect("a resumed run keeps the events up to the checkpoint and continues after them without duplicates", () =>
    Effect.gen(function* () {
      const runDir = makeRunDir()
      const train = (steps: ReadonlyArray<number>) =>
        Effect.gen(function* () {
          const metrics = yield* Metrics
          for (const step of steps) yield* metrics.log(step, { loss: 1 / (step + 1) })
          return yield* metrics.events
        })
      yield* train([0, 1, 2, 3, 4]).pipe(Effect.provide(Metrics.layer(runDir)))
      fs.appendFileSync(metricsFilePath(runDir), '{"step":5,"time"') // killed mid-write at step 5
      const events = yield* train([3, 4, 5]).pipe(Effect.provide(Metrics.layer(runDir, { resumeFromStep: 2 })))
      expect(events.map((event) => event.step)).toEqual([0, 1, 2, 3, 4, 5])
      expect(stepsOnDisk(runDir)).toEqual([0, 1, 2, 3, 4, 5])
    }),
  )

  it.effect("a run folder that cannot be created fails the layer with InputError", () =>
    Effect.gen(function* () {
      const blocker = path.join(makeRunDir(), "a-file")
      fs.writeFileSync(blocker, "")
      const error = yield* Effect.flip(Layer.build(Metrics.layer(path.join(blocker, "run"))))
      expect(error).toBeInstanceOf(InputError)
      expect(error.message).toContain(path.join(blocker, "run"))
    }),
  )
})
