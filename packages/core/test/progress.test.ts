import { PassThrough } from "node:stream"
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { describe } from "vitest"
import { barCells, formatDuration, renderBar } from "../src/progress/bar.ts"
import { Progress } from "../src/progress/progress.ts"

describe("progress bars", () => {
  it("fills the bar in proportion, with eighth-cell resolution, never past its width", () => {
    expect(barCells(0, 10)).toBe(" ".repeat(10))
    expect(barCells(1, 10)).toBe("█".repeat(10))
    expect(barCells(0.5, 10)).toBe(`${"█".repeat(5)} ${" ".repeat(4)}`)
    expect(barCells(0.0625, 2)).toBe("▏ ")
    for (const f of [0, 0.13, 0.5, 0.99, 1, 2, -1, Number.NaN]) expect(barCells(f, 17)).toHaveLength(17)
  })

  it("formats durations as m:ss and h:mm:ss", () => {
    expect(formatDuration(47)).toBe("0:47")
    expect(formatDuration(3725)).toBe("1:02:05")
    expect(formatDuration(Number.NaN)).toBe("?")
  })

  it("shows percent, counts, rate, ETA and figures", () => {
    const line = renderBar({ task: "sft", done: 250, total: 1000, unit: "step", info: { loss: 1.2345 } }, 10, 120)
    expect(line).toContain("25%")
    expect(line).toContain("250/1000 step")
    expect(line).toContain("25 step/s")
    expect(line).toContain("ETA 0:30")
    expect(line).toContain("loss 1.23")
  })

  it.effect(
    "the terminal layer writes at most a line per 5 s on a non-TTY stream, always the finished state, never twice",
    () =>
      Effect.gen(function* () {
        const stream = new PassThrough() as unknown as NodeJS.WriteStream
        const chunks: Array<string> = []
        ;(stream as unknown as PassThrough).on("data", (c: Buffer) => chunks.push(c.toString()))
        yield* Effect.gen(function* () {
          const progress = yield* Progress
          yield* progress.update({ task: "demo", done: 0, total: 2 })
          yield* progress.update({ task: "demo", done: 1, total: 2 }) // within 5 s of the first: not drawn
          yield* TestClock.adjust("4999 millis")
          yield* progress.update({ task: "demo", done: 1, total: 2 }) // still within 5 s: not drawn
          yield* progress.update({ task: "demo", done: 2, total: 2 }) // finished: always drawn
          yield* progress.finish("demo") // the finished line was shown: not repeated
        }).pipe(Effect.provide(Progress.layerTerminal(stream)))
        const text = chunks.join("")
        expect(text.split("\n").filter(Boolean)).toHaveLength(2)
        expect(text).toContain("2/2 it")
        expect(text).not.toContain("1/2 it")
      }),
  )
})
