/**
 * One progress line: `sft  ██████▌        42% 420/1000 step  12.3 step/s  ETA 0:47  loss 1.23`.
 */
import type { ProgressUpdate } from "./progress.ts"

const blocks = [" ", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"]

/** A bar of `width` cells filled to `fraction` with eighth-cell resolution. */
export const barCells = (fraction: number, width: number): string => {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0))
  const eighths = Math.round(f * width * 8)
  const full = Math.floor(eighths / 8)
  const rest = eighths % 8
  return "█".repeat(full) + (full < width ? (blocks[rest] ?? " ") + " ".repeat(width - full - 1) : "")
}

/** `m:ss` or `h:mm:ss`. */
export const formatDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds) || seconds < 0) return "?"
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const ss = String(s % 60).padStart(2, "0")
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`
}

const formatFigure = (v: number | string): string =>
  typeof v === "string" ? v : Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(3)

/** Renders one line for `update` after `elapsedS` seconds, fitted to `columns`. */
export const renderBar = (update: ProgressUpdate, elapsedS: number, columns: number): string => {
  const unit = update.unit ?? "it"
  const rate = elapsedS > 0 ? update.done / elapsedS : 0
  const info = Object.entries(update.info ?? {})
    .map(([k, v]) => `${k} ${formatFigure(v)}`)
    .join("  ")
  const rateText = `${formatFigure(rate)} ${unit}/s`
  if (update.total === undefined || update.total <= 0) {
    return [update.task, `${update.done} ${unit}`, rateText, formatDuration(elapsedS), info].filter(Boolean).join("  ")
  }
  const fraction = update.done / update.total
  const eta = rate > 0 ? (update.total - update.done) / rate : Number.NaN
  const tail = [
    `${String(Math.floor(fraction * 100)).padStart(3)}%`,
    `${update.done}/${update.total} ${unit}`,
    rateText,
    update.done >= update.total ? `in ${formatDuration(elapsedS)}` : `ETA ${formatDuration(eta)}`,
    info,
  ]
    .filter(Boolean)
    .join("  ")
  const width = Math.max(10, Math.min(30, columns - update.task.length - tail.length - 4))
  return `${update.task}  ${barCells(fraction, width)}  ${tail}`
}
