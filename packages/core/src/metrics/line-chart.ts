/**
 * SVG line charts of training curves, rendered to a string with no DOM and no dependency.
 *
 * Layout, top to bottom: title, legend (wrapping), plot with light grid, axes with nice ticks and labels.
 * Each series is one `<g class="series">` with one `<path>` (raw), or two when smoothing is on (the raw curve faded
 * and its EMA drawn over it, as TensorBoard does). A missing point — null, NaN, ±Infinity, or y <= 0 on a log axis —
 * breaks the line; a point alone between gaps is drawn as a dot. The domain is widened to whole ticks, so every drawn
 * point lies inside the plot.
 *
 * Text widths are estimated (no font metrics without a DOM): 0.6 em per character, generous for digits and Latin text.
 */
import { InputError } from "../errors.ts"
import { emaSmooth } from "./smoothing.ts"
import { linearTicks, logTicks, type Ticks } from "./ticks.ts"

export type ChartPoint = readonly [x: number, y: number | null]

export interface LineSeries {
  readonly name: string
  readonly points: ReadonlyArray<ChartPoint>
}

export interface LineChartSpec {
  readonly title: string
  readonly x: { readonly label: string }
  readonly y: { readonly label: string; readonly log?: boolean }
  readonly series: ReadonlyArray<LineSeries>
  /** EMA weight in [0, 1) for a smoothed curve over the faded raw one (TensorBoard's slider). Unset: raw only. */
  readonly smoothing?: number
  /** Pixels; default 720 × 420. */
  readonly width?: number
  readonly height?: number
}

/** Tableau 10: distinct, colour-blind-aware, readable on white. */
const PALETTE = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
]
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
const TICK_FONT = 11
const LABEL_FONT = 12
const TITLE_FONT = 16
const MARGIN = 16
const LEGEND_ROW = 18

const textWidth = (text: string, fontSize: number): number => text.length * fontSize * 0.6

const escapeXml = (text: string): string =>
  text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;")

/** Pixel coordinates to one decimal: sharp enough, and keeps files small. */
const px = (value: number): string => String(Math.round(value * 10) / 10)

interface Frame {
  readonly left: number
  readonly right: number
  readonly top: number
  readonly bottom: number
}

const validator =
  (log: boolean) =>
  (y: number | null): y is number =>
    y !== null && Number.isFinite(y) && (!log || y > 0)

/** Extent of the drawable values, or undefined when there are none. */
const extent = (values: Iterable<number>): readonly [number, number] | undefined => {
  let lo = Number.POSITIVE_INFINITY
  let hi = Number.NEGATIVE_INFINITY
  for (const value of values) {
    if (value < lo) lo = value
    if (value > hi) hi = value
  }
  return lo <= hi ? [lo, hi] : undefined
}

function* drawable(series: ReadonlyArray<LineSeries>, log: boolean): Generator<ChartPoint & readonly [number, number]> {
  const valid = validator(log)
  for (const { points } of series) {
    for (const point of points)
      if (Number.isFinite(point[0]) && valid(point[1])) yield point as readonly [number, number]
  }
}

/** The path of one curve: a subpath per unbroken run of points; a run of one point is a dot (`h0`, round caps). */
const pathData = (
  xs: ReadonlyArray<number>,
  ys: ReadonlyArray<number | null>,
  valid: (y: number | null) => y is number,
  toX: (x: number) => number,
  toY: (y: number) => number,
): string => {
  const parts: Array<string> = []
  let run = 0
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i] as number
    const y = ys[i] ?? null
    if (!Number.isFinite(x) || !valid(y)) {
      if (run === 1) parts.push("h0")
      run = 0
      continue
    }
    parts.push(`${run === 0 ? "M" : "L"}${px(toX(x))} ${px(toY(y))}`)
    run++
  }
  if (run === 1) parts.push("h0")
  return parts.join("")
}

interface LegendLayout {
  readonly svg: string
  readonly height: number
}

const legend = (names: ReadonlyArray<string>, top: number, width: number): LegendLayout => {
  const items: Array<string> = []
  let x = MARGIN
  let row = 0
  names.forEach((name, i) => {
    const itemWidth = 24 + textWidth(name, LABEL_FONT)
    if (x + itemWidth > width - MARGIN && x > MARGIN) {
      x = MARGIN
      row++
    }
    const y = top + row * LEGEND_ROW
    const color = PALETTE[i % PALETTE.length] as string
    items.push(
      `<line x1="${px(x)}" y1="${px(y)}" x2="${px(x + 18)}" y2="${px(y)}" stroke="${color}" stroke-width="3" stroke-linecap="round"/>` +
        `<text x="${px(x + 24)}" y="${px(y + 4)}">${escapeXml(name)}</text>`,
    )
    x += itemWidth + 18
  })
  return {
    svg: `<g class="legend" font-size="${LABEL_FONT}" fill="#374151">${items.join("")}</g>`,
    height: names.length === 0 ? 0 : (row + 1) * LEGEND_ROW,
  }
}

const axes = (
  frame: Frame,
  xTicks: Ticks,
  yTicks: Ticks,
  toX: (x: number) => number,
  toY: (y: number) => number,
): string => {
  const grid: Array<string> = []
  const xLabels: Array<string> = []
  const yLabels: Array<string> = []
  xTicks.values.forEach((value, i) => {
    const x = px(toX(value))
    grid.push(`<line x1="${x}" y1="${px(frame.top)}" x2="${x}" y2="${px(frame.bottom)}"/>`)
    xLabels.push(`<text x="${x}" y="${px(frame.bottom + 16)}">${escapeXml(xTicks.labels[i] as string)}</text>`)
  })
  yTicks.values.forEach((value, i) => {
    const y = px(toY(value))
    grid.push(`<line x1="${px(frame.left)}" y1="${y}" x2="${px(frame.right)}" y2="${y}"/>`)
    yLabels.push(
      `<text x="${px(frame.left - 6)}" y="${px(toY(value) + 4)}">${escapeXml(yTicks.labels[i] as string)}</text>`,
    )
  })
  const box = `<rect x="${px(frame.left)}" y="${px(frame.top)}" width="${px(frame.right - frame.left)}" height="${px(frame.bottom - frame.top)}" fill="none" stroke="#9ca3af"/>`
  return [
    `<g class="grid" stroke="#e5e7eb" stroke-width="1">${grid.join("")}</g>`,
    box,
    `<g class="axis x" font-size="${TICK_FONT}" fill="#4b5563" text-anchor="middle">${xLabels.join("")}</g>`,
    `<g class="axis y" font-size="${TICK_FONT}" fill="#4b5563" text-anchor="end">${yLabels.join("")}</g>`,
  ].join("")
}

const checkSpec = (spec: LineChartSpec): void => {
  const { smoothing, width = 720, height = 420 } = spec
  if (smoothing !== undefined && !(smoothing >= 0 && smoothing < 1)) {
    throw new InputError({
      source: "renderLineChart(smoothing)",
      reason: `expected a weight in [0, 1), got ${smoothing}`,
    })
  }
  if (!(width >= 200 && height >= 150)) {
    throw new InputError({
      source: "renderLineChart(width, height)",
      reason: `expected at least 200 × 150, got ${width} × ${height}`,
    })
  }
}

/** Renders the chart as a standalone SVG document. Throws `InputError` for a smoothing weight outside [0, 1). */
export const renderLineChart = (spec: LineChartSpec): string => {
  checkSpec(spec)
  const { title, series, smoothing, width = 720, height = 420 } = spec
  const log = spec.y.log === true
  const valid = validator(log)
  const xExtent = extent(Array.from(drawable(series, log), (point) => point[0])) ?? [0, 1]
  const yExtent = extent(Array.from(drawable(series, log), (point) => point[1])) ?? (log ? [1, 10] : [0, 1])

  const legendTop = MARGIN + TITLE_FONT + 14
  const legendLayout = legend(
    series.map((s) => s.name),
    legendTop,
    width,
  )
  const top = legendTop + legendLayout.height + 4
  const yTarget = Math.max(2, Math.round((height - top - 60) / 50))
  const yTicks = log ? logTicks(yExtent[0], yExtent[1], yTarget) : linearTicks(yExtent[0], yExtent[1], yTarget)
  const yLabelWidth = Math.max(...yTicks.labels.map((label) => textWidth(label, TICK_FONT)))
  const frame: Frame = {
    left: MARGIN + LABEL_FONT + 10 + yLabelWidth + 8,
    right: width - MARGIN - 8,
    top,
    bottom: height - MARGIN - LABEL_FONT - 24,
  }
  const xTicks = linearTicks(xExtent[0], xExtent[1], Math.max(2, Math.round((frame.right - frame.left) / 90)))

  const scale = (value: number) => (log ? Math.log10(value) : value)
  const [x0, x1] = xTicks.domain
  const [y0, y1] = [scale(yTicks.domain[0]), scale(yTicks.domain[1])]
  const toX = (x: number) => frame.left + ((x - x0) / (x1 - x0)) * (frame.right - frame.left)
  const toY = (y: number) => frame.bottom - ((scale(y) - y0) / (y1 - y0)) * (frame.bottom - frame.top)

  const curves = series.map((s, i) => {
    const color = PALETTE[i % PALETTE.length] as string
    const xs = s.points.map((point) => point[0])
    const ys = s.points.map((point) => point[1])
    const raw = pathData(xs, ys, valid, toX, toY)
    const paths =
      smoothing === undefined
        ? `<path class="raw" d="${raw}" stroke-width="1.75"/>`
        : `<path class="raw" d="${raw}" stroke-width="1" stroke-opacity="0.3"/>` +
          `<path class="smoothed" d="${pathData(xs, emaSmooth(ys, smoothing, valid), valid, toX, toY)}" stroke-width="2"/>`
    return `<g class="series" data-name="${escapeXml(s.name)}" stroke="${color}">${paths}</g>`
  })

  const xLabelY = height - MARGIN
  const yLabelX = MARGIN + LABEL_FONT - 2
  const yLabelY = (frame.top + frame.bottom) / 2
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${escapeXml(FONT)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text class="title" x="${MARGIN}" y="${MARGIN + TITLE_FONT - 2}" font-size="${TITLE_FONT}" font-weight="600" fill="#111827">${escapeXml(title)}</text>`,
    legendLayout.svg,
    axes(frame, xTicks, yTicks, toX, toY),
    `<text class="axis-label x" x="${px((frame.left + frame.right) / 2)}" y="${xLabelY}" font-size="${LABEL_FONT}" fill="#374151" text-anchor="middle">${escapeXml(spec.x.label)}</text>`,
    `<text class="axis-label y" transform="translate(${px(yLabelX)} ${px(yLabelY)}) rotate(-90)" font-size="${LABEL_FONT}" fill="#374151" text-anchor="middle">${escapeXml(spec.y.label)}${log ? " (log)" : ""}</text>`,
    `<g class="curves" fill="none" stroke-linejoin="round" stroke-linecap="round">${curves.join("")}</g>`,
    "</svg>",
    "",
  ].join("\n")
}
