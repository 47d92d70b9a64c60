/**
 * Timing helpers for benchmarks: median of repeated runs, and an aligned text table. Benchmarks print figures and
 * ratios against a reference measured in the same run; tests never time anything.
 */
export interface Timing {
  readonly medianMs: number
  readonly minMs: number
  readonly samples: number
}

export interface TimeOptions {
  /** Untimed runs first (JIT, kernel setup, allocations). */
  readonly warmup?: number
  /** Timed runs; the median is reported. */
  readonly repeats?: number
  /** Stop adding repeats once this much time has been spent (ms), after at least 3. */
  readonly budgetMs?: number
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/** Times `fn` (sync or async); returns the median and minimum in milliseconds. */
export const time = async (fn: () => unknown, options: TimeOptions = {}): Promise<Timing> => {
  const { warmup = 1, repeats = 5, budgetMs = 10_000 } = options
  for (let i = 0; i < warmup; i++) await fn()
  const samples: Array<number> = []
  const start = performance.now()
  while (samples.length < repeats) {
    const t0 = performance.now()
    await fn()
    samples.push(performance.now() - t0)
    if (samples.length >= 3 && performance.now() - start > budgetMs) break
  }
  return { medianMs: median(samples), minMs: Math.min(...samples), samples: samples.length }
}

/** Prints rows as an aligned text table. */
export const printTable = (rows: ReadonlyArray<Record<string, string | number>>): void => {
  if (rows.length === 0) return
  const headers = Object.keys(rows[0] as object)
  const cell = (v: unknown) => (typeof v === "number" ? formatNumber(v) : String(v ?? ""))
  const widths = headers.map((h) => Math.max(h.length, ...rows.map((r) => cell(r[h]).length)))
  const line = (vals: ReadonlyArray<string>) => vals.map((v, i) => v.padStart(widths[i] as number)).join("  ")
  console.log(line(headers))
  console.log(widths.map((w) => "-".repeat(w)).join("  "))
  for (const r of rows) console.log(line(headers.map((h) => cell(r[h]))))
}

export const formatNumber = (v: number): string =>
  !Number.isFinite(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)
