/**
 * Axis ticks a reader can take in at a glance.
 *
 *   linear   step = {1, 2, 5} · 10ᵏ, the first of these ≥ span / target; the domain widens to whole steps
 *   log      one tick per decade (every k-th when there are many); within ≤ 2 decades also 2· and 5·10ᵏ
 *
 * Labels print as many decimals as the step needs, and switch to 1.5e6 / 2e-5 form for very large or small values.
 */

export interface Ticks {
  /** The axis domain, widened to the outer ticks. */
  readonly domain: readonly [number, number]
  readonly values: ReadonlyArray<number>
  readonly labels: ReadonlyArray<string>
}

/** Removes floating-point dust such as 0.30000000000000004. */
const clean = (x: number): number => Number(x.toPrecision(14))

const niceStep = (span: number, target: number): number => {
  const raw = span / target
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const normalised = raw / magnitude
  const factor = normalised <= 1 ? 1 : normalised <= 2 ? 2 : normalised <= 5 ? 5 : 10
  return factor * magnitude
}

/** "1.5e6" rather than JavaScript's "1.5e+6"; trailing zeros of the mantissa removed. */
const exponential = (value: number, digits: number): string => {
  const [mantissa = "", exponent = ""] = value.toExponential(Math.max(0, Math.min(digits, 15))).split("e")
  const trimmed = mantissa.includes(".") ? mantissa.replace(/0+$/, "").replace(/\.$/, "") : mantissa
  return `${trimmed}e${exponent.replace("+", "")}`
}

/** The label of `value` on an axis whose ticks are `step` apart. */
export const formatTick = (value: number, step: number): string => {
  if (value === 0) return "0"
  const magnitude = Math.abs(value)
  if (magnitude >= 1e6 || magnitude < 1e-4) {
    return exponential(value, Math.floor(Math.log10(magnitude)) - Math.floor(Math.log10(step) + 1e-9))
  }
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9))
  return value.toFixed(decimals)
}

/** Widens a zero-width range so that it still has ticks around the value. */
const widen = (lo: number, hi: number): readonly [number, number] => {
  if (hi > lo) return [lo, hi]
  const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1
  return [lo - pad, hi + pad]
}

/** About `target` evenly spaced ticks covering [min, max]. */
export const linearTicks = (min: number, max: number, target = 6): Ticks => {
  const [lo, hi] = widen(min, max)
  const step = niceStep(hi - lo, target)
  let first = Math.floor(lo / step)
  let last = Math.ceil(hi / step)
  while (clean(first * step) > lo) first--
  while (clean(last * step) < hi) last++
  const values: Array<number> = []
  for (let i = first; i <= last; i++) values.push(clean(i * step))
  return {
    domain: [values[0] as number, values[values.length - 1] as number],
    values,
    labels: values.map((value) => formatTick(value, step)),
  }
}

const formatLogTick = (value: number): string => {
  if (value >= 1e-4 && value < 1e5) return String(clean(value))
  return exponential(value, 1)
}

/** Ticks for a log axis covering [min, max] (both > 0). */
export const logTicks = (min: number, max: number, target = 6): Ticks => {
  let lowDecade = Math.floor(Math.log10(min))
  let highDecade = Math.ceil(Math.log10(max))
  while (clean(10 ** lowDecade) > min) lowDecade--
  while (clean(10 ** highDecade) < max) highDecade++
  if (highDecade === lowDecade) lowDecade-- // min = max = a power of ten: show the decade below it
  const decades = highDecade - lowDecade
  const every = Math.max(1, Math.ceil(decades / target))
  const multiples = decades <= 2 ? [1, 2, 5] : [1]
  const values: Array<number> = []
  for (let decade = lowDecade; decade <= highDecade; decade += every) {
    for (const multiple of multiples) {
      const value = clean(multiple * 10 ** decade)
      if (decade === highDecade && multiple > 1) break
      values.push(value)
    }
  }
  const top = values[values.length - 1] as number
  const domainHigh = top < max ? clean(10 ** (lowDecade + Math.ceil(decades / every) * every)) : top
  if (domainHigh !== top) values.push(domainHigh)
  return {
    domain: [values[0] as number, domainHigh],
    values,
    labels: values.map(formatLogTick),
  }
}
