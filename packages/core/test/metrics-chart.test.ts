import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { XMLParser, XMLValidator } from "fast-xml-parser"
import { afterEach, describe } from "vitest"
import { InputError } from "../src/errors.ts"
import { metricEvent } from "../src/metrics/events.ts"
import { type LineChartSpec, renderLineChart } from "../src/metrics/line-chart.ts"
import { openMetricsFile } from "../src/metrics/metrics-file.ts"
import { plotMetrics } from "../src/metrics/plot.ts"
import { emaSmooth } from "../src/metrics/smoothing.ts"
import { linearTicks, logTicks } from "../src/metrics/ticks.ts"

interface XmlNode {
  readonly [key: string]: unknown
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "",
  textNodeName: "#text",
  alwaysCreateTextNode: true,
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
})

/** Parses the SVG after checking that it is well-formed XML; returns the root `<svg>` element. */
const parseSvg = (svg: string): XmlNode => {
  expect(XMLValidator.validate(svg)).toBe(true)
  const [root] = (parser.parse(svg) as { svg: Array<XmlNode> }).svg
  return root as XmlNode
}

const children = (node: XmlNode, tag: string): Array<XmlNode> => (node[tag] as Array<XmlNode> | undefined) ?? []

/** Every element `tag` under `node`, depth first. */
const descendants = (node: XmlNode, tag: string): Array<XmlNode> =>
  Object.entries(node).flatMap(([key, value]) =>
    Array.isArray(value)
      ? value.flatMap((child: XmlNode) => [...(key === tag ? [child] : []), ...descendants(child, tag)])
      : [],
  )

const byClass = (root: XmlNode, tag: string, className: string): Array<XmlNode> =>
  descendants(root, tag).filter((node) => node.class === className)

const texts = (group: XmlNode): Array<string> => children(group, "text").map((t) => String(t["#text"]))

const lossCurve: ReadonlyArray<readonly [number, number]> = Array.from({ length: 101 }, (_, i) => [
  i * 10,
  0.37 + 2.54 * Math.exp(-i / 20),
])

const spec = (overrides: Partial<LineChartSpec> = {}): LineChartSpec => ({
  title: "Training loss",
  x: { label: "step" },
  y: { label: "loss" },
  series: [
    { name: "train", points: lossCurve },
    { name: "eval", points: lossCurve.filter((_, i) => i % 10 === 0).map(([x, y]) => [x, y + 0.1]) },
  ],
  ...overrides,
})

describe("renderLineChart", () => {
  it("is well-formed SVG with one path per series, named in the legend", () => {
    const root = parseSvg(renderLineChart(spec()))
    expect(root.xmlns).toBe("http://www.w3.org/2000/svg")
    const series = byClass(root, "g", "series")
    expect(series.map((g) => g["data-name"])).toEqual(["train", "eval"])
    for (const g of series) expect(children(g, "path")).toHaveLength(1)
    expect(descendants(root, "path")).toHaveLength(2)
    expect(texts(byClass(root, "g", "legend")[0] as XmlNode)).toEqual(["train", "eval"])
    expect(byClass(root, "text", "title")[0]?.["#text"]).toBe("Training loss")
  })

  it("the y tick labels span the data: nice, evenly spaced, first at or below the minimum, last at or above the maximum", () => {
    const root = parseSvg(renderLineChart(spec()))
    const labels = texts(byClass(root, "g", "axis y")[0] as XmlNode).map(Number)
    const ys = lossCurve.map(([, y]) => y)
    const [lo, hi] = [Math.min(...ys), Math.max(...ys) + 0.1]
    const step = (labels[1] as number) - (labels[0] as number)
    expect(labels.length).toBeGreaterThanOrEqual(3)
    for (let i = 1; i < labels.length; i++)
      expect((labels[i] as number) - (labels[i - 1] as number)).toBeCloseTo(step, 9)
    expect(labels[0]).toBeLessThanOrEqual(lo)
    expect(labels[0]).toBeGreaterThan(lo - step)
    expect(labels[labels.length - 1]).toBeGreaterThanOrEqual(hi)
    expect(labels[labels.length - 1]).toBeLessThan(hi + step)
    const xLabels = texts(byClass(root, "g", "axis x")[0] as XmlNode).map(Number)
    expect([xLabels[0], xLabels[xLabels.length - 1]]).toEqual([0, 1000])
  })

  it("a log y axis has a tick per decade from below the minimum to above the maximum", () => {
    const points = [
      [0, 0.002],
      [1, 0.5],
      [2, 30],
    ] as const
    const root = parseSvg(renderLineChart(spec({ y: { label: "kl", log: true }, series: [{ name: "kl", points }] })))
    const labels = texts(byClass(root, "g", "axis y")[0] as XmlNode)
    expect(labels).toEqual(["0.001", "0.01", "0.1", "1", "10", "100"])
  })

  it("smoothing draws the EMA beside the raw series: two paths per series, the smoothed one different", () => {
    const root = parseSvg(renderLineChart(spec({ smoothing: 0.8 })))
    for (const g of byClass(root, "g", "series")) {
      const paths = children(g, "path")
      expect(paths.map((p) => p.class)).toEqual(["raw", "smoothed"])
      expect(paths[0]?.d).not.toBe(paths[1]?.d)
    }
  })

  it("NaN, null and ±Infinity break the line; a point alone between gaps is drawn as a dot", () => {
    const points = [
      [0, 1],
      [1, 2],
      [2, Number.NaN],
      [3, 3],
      [4, null],
      [5, Number.POSITIVE_INFINITY],
      [6, 2],
      [7, 1],
    ] as const
    const root = parseSvg(renderLineChart(spec({ series: [{ name: "loss", points }] })))
    const d = String(byClass(root, "path", "raw")[0]?.d)
    expect(d.match(/M/g)).toHaveLength(3)
    expect(d.match(/L/g)).toHaveLength(2)
    expect(d).toContain("h0")
  })

  it("on a log axis, values <= 0 are gaps rather than errors", () => {
    const points = [
      [0, 1],
      [1, 0],
      [2, -1],
      [3, 10],
      [4, 100],
    ] as const
    const svg = renderLineChart(spec({ y: { label: "v", log: true }, series: [{ name: "v", points }] }))
    const d = String(byClass(parseSvg(svg), "path", "raw")[0]?.d)
    expect(d.match(/M/g)).toHaveLength(2)
    expect(d).not.toContain("NaN")
  })

  it("escapes markup in the title, labels and series names", () => {
    const name = `loss <train> & "eval"`
    const root = parseSvg(renderLineChart(spec({ title: "a < b & c", series: [{ name, points: lossCurve }] })))
    expect(byClass(root, "g", "series")[0]?.["data-name"]).toBe(name)
    expect(byClass(root, "text", "title")[0]?.["#text"]).toBe("a < b & c")
  })

  it("renders an empty chart (no series, or no finite points) as well-formed SVG", () => {
    parseSvg(renderLineChart(spec({ series: [] })))
    parseSvg(renderLineChart(spec({ series: [{ name: "nan", points: [[0, Number.NaN]] }] })))
  })

  it("rejects a smoothing weight outside [0, 1) with InputError", () => {
    expect(() => renderLineChart(spec({ smoothing: 1 }))).toThrow(InputError)
  })
})

describe("ticks and smoothing", () => {
  it("linear ticks cover [min, max], are evenly spaced and have distinct labels", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e7, max: 1e7, noNaN: true }),
        fc.double({ min: 1e-3, max: 1e7, noNaN: true }),
        fc.integer({ min: 2, max: 10 }),
        (min, span, target) => {
          const max = min + span
          const ticks = linearTicks(min, max, target)
          const { values } = ticks
          const step = (values[1] as number) - (values[0] as number)
          expect(ticks.domain[0]).toBeLessThanOrEqual(min)
          expect(ticks.domain[1]).toBeGreaterThanOrEqual(max)
          expect(values.length).toBeLessThanOrEqual(2 * target + 2)
          for (let i = 1; i < values.length; i++) {
            expect(Math.abs((values[i] as number) - (values[i - 1] as number) - step)).toBeLessThan(step * 1e-3)
          }
          expect(new Set(ticks.labels).size).toBe(values.length)
        },
      ),
    )
  })

  it("log ticks cover [min, max], increase, and have distinct labels", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-12, max: 1e12, noNaN: true }),
        fc.double({ min: 1, max: 1e6, noNaN: true }),
        fc.integer({ min: 2, max: 10 }),
        (min, ratio, target) => {
          const max = min * ratio
          const ticks = logTicks(min, max, target)
          expect(ticks.domain[0]).toBeLessThanOrEqual(min)
          expect(ticks.domain[1]).toBeGreaterThanOrEqual(max)
          for (let i = 1; i < ticks.values.length; i++) {
            expect(ticks.values[i]).toBeGreaterThan(ticks.values[i - 1] as number)
          }
          expect(new Set(ticks.labels).size).toBe(ticks.values.length)
        },
      ),
    )
  })

  it("a constant series still gets a range of ticks around its value", () => {
    const ticks = linearTicks(2.5, 2.5)
    expect(ticks.domain[0]).toBeLessThan(2.5)
    expect(ticks.domain[1]).toBeGreaterThan(2.5)
    expect(logTicks(1, 1).domain).toEqual([0.1, 1])
  })

  it("EMA with weight 0 is the raw series; a constant series is its own EMA; gaps stay gaps", () => {
    expect(emaSmooth([1, 5, 2], 0)).toEqual([1, 5, 2])
    const smoothed = emaSmooth([3, 3, null, 3], 0.9)
    expect(smoothed[2]).toBeNull()
    for (const value of [smoothed[0], smoothed[1], smoothed[3]]) expect(value).toBeCloseTo(3, 12)
  })
})

describe("plotMetrics", () => {
  const runDirs: Array<string> = []
  afterEach(() => {
    for (const dir of runDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
  })
  const runWithMetrics = (): string => {
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-plot-"))
    runDirs.push(runDir)
    const writer = openMetricsFile(runDir)
    for (let step = 0; step < 50; step++) {
      writer.append(metricEvent(step, step, { loss: 3 / (step + 1), lr: 1e-3 }))
      if (step % 10 === 0) writer.append(metricEvent(step, step, { "eval/loss": 3.2 / (step + 1) }))
    }
    writer.close()
    return runDir
  }

  it.effect("writes <name>.svg for each chart from metrics.jsonl, one series per metric, no temporary files left", () =>
    Effect.gen(function* () {
      const runDir = runWithMetrics()
      const written = yield* plotMetrics(runDir, [
        { name: "loss", metrics: ["loss", "eval/loss"], smoothing: 0.6 },
        { name: "lr", metrics: ["lr"], logY: true },
      ])
      expect(written).toEqual([path.join(runDir, "loss.svg"), path.join(runDir, "lr.svg")])
      expect(fs.readdirSync(runDir).sort()).toEqual(["loss.svg", "lr.svg", "metrics.jsonl"])
      const loss = parseSvg(fs.readFileSync(path.join(runDir, "loss.svg"), "utf8"))
      expect(byClass(loss, "g", "series").map((g) => g["data-name"])).toEqual(["loss", "eval/loss"])
      const evalSeries = byClass(loss, "g", "series")[1] as XmlNode
      const evalPath = String(children(evalSeries, "path")[0]?.d)
      expect(evalPath.match(/[ML]/g)).toHaveLength(5) // eval logged at 5 steps, drawn as one line
    }),
  )

  it.effect("fails with InputError for a bad chart name or a run without metrics", () =>
    Effect.gen(function* () {
      const runDir = runWithMetrics()
      const badName = yield* Effect.flip(plotMetrics(runDir, [{ name: "../escape", metrics: ["loss"] }]))
      expect(badName).toBeInstanceOf(InputError)
      fs.rmSync(path.join(runDir, "metrics.jsonl"))
      const missing = yield* Effect.flip(plotMetrics(runDir, [{ name: "loss", metrics: ["loss"] }]))
      expect(missing).toBeInstanceOf(InputError)
    }),
  )
})
