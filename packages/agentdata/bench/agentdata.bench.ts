/**
 * Scale bench (docs/agentdata.md §10): synthesizes (and thereby verifies: every record's oracle runs through its
 * tools and verifier) a fraction of each preset, measures tasks per second and peak RSS, and extrapolates the full
 * preset's time, saying so. `--fraction 1` runs the whole preset. Writes bench-results/agentdata.json.
 *
 *   pnpm --filter @ds/agentdata bench -- --fraction 0.01
 */
import { mkdirSync, rmSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Progress, writeFileAtomicSync } from "@ds/core"
import { Effect } from "effect"
import { categories, loadRuntimes, type Plan, presets, synthesize, synthesizeUnit } from "../src/index.ts"

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? (process.argv[i + 1] as string) : fallback
}
const fraction = Number(arg("fraction", "0.01"))
const which = arg("presets", "paper,seed").split(",") as Array<"paper" | "seed">

const scaled = (plan: Plan): Plan =>
  Object.fromEntries(
    categories.map((c) => {
      const p = plan[c]
      const units = Math.max(1, Math.round(p.units * fraction))
      return [c, { units, tasks: Math.round((p.tasks / p.units) * units), unitsPerShard: p.unitsPerShard }]
    }),
  ) as unknown as Plan

// Warm-up outside the measurement: wasm modules loaded and the synthesizers' code JIT-compiled, as in a long run.
await Effect.runPromise(loadRuntimes)
for (const c of categories)
  for (let u = 0; u < 3; u++) synthesizeUnit(12345, c, u, c === "search" ? 25 : c === "general" ? 2 : 1)

const results: Record<string, unknown> = {}
let peakRss = 0
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss)
}, 200)
for (const preset of which) {
  const out = join(tmpdir(), `agentdata-bench-${preset}-${process.pid}`)
  rmSync(out, { recursive: true, force: true })
  const plan = scaled(presets[preset])
  const perCategory: Record<string, { tasks: number; seconds: number; cpuSeconds: number; cpuMsPerTask: number }> = {}
  const load = loadavg()[0]
  let total = 0
  let cpuTotal = 0
  for (const c of categories) {
    const only = Object.fromEntries(
      categories.map((k) => [k, k === c ? plan[k] : { units: 0, tasks: 0, unitsPerShard: 1 }]),
    ) as unknown as Plan
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    const stats = await Effect.runPromise(
      synthesize({ out: join(out, c), preset, plan: only, seed: 1, resume: false }).pipe(
        Effect.provide(Progress.layerTerminal()),
      ),
    )
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const cpuSeconds = (cpu.user + cpu.system) / 1e6
    if (stats.verified !== stats.tasks.total) throw new Error(`${c}: ${stats.tasks.total - stats.verified} unverified`)
    perCategory[c] = {
      tasks: stats.tasks.total,
      seconds,
      cpuSeconds,
      cpuMsPerTask: (1000 * cpuSeconds) / stats.tasks.total,
    }
    total += presets[preset][c].tasks / (stats.tasks.total / seconds)
    cpuTotal += (presets[preset][c].tasks * cpuSeconds) / stats.tasks.total
  }
  results[preset] = {
    fraction,
    measured: perCategory,
    fullTasks: categories.reduce((a, c) => a + presets[preset][c].tasks, 0),
    extrapolatedWallSecondsOneProcessUnderThisLoad: total,
    extrapolatedCpuSeconds: cpuTotal,
    projectedWallSecondsTwoIdleCores: cpuTotal / 2,
    note:
      "extrapolated linearly from the measured fraction, not a full run; the projection for two idle cores is CPU " +
      "seconds per task (process.cpuUsage, which a loaded machine does not inflate as it does wall time) times the " +
      "preset's task count, over 2 workers (`--workers 2`, shards split evenly)",
    loadAverage1mAtStart: load,
  }
  rmSync(out, { recursive: true, force: true })
}
clearInterval(sampler)
// maxRSS (kilobytes) is the process's peak resident set, sampled by the kernel, not by a timer.
peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024)
const record = { cores: cpus().length, loadAverage1m: loadavg()[0], peakRssBytes: peakRss, results }
const dir = resolve(import.meta.dirname, "..", "..", "..", "bench-results")
mkdirSync(dir, { recursive: true })
writeFileAtomicSync(join(dir, "agentdata.json"), `${JSON.stringify(record, null, 2)}\n`)
console.log(JSON.stringify(record, null, 2))
