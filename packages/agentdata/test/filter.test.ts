import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Progress } from "@ds/core"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  filterUnit,
  loadRuntimes,
  readRecords,
  recordFiles,
  type Solver,
  synthesize,
  synthesizeUnit,
  type TaskRecordSchema,
} from "../src/index.ts"
import { tinyPlan } from "./plan.ts"

const root = mkdtempSync(join(tmpdir(), "agentdata-filter-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))
beforeAll(() => Effect.runPromise(loadRuntimes))

/** Plays the oracle through the episode's tools. */
const oracle: Solver = (task, episode) => task.solve((name, args) => episode.call(name, JSON.stringify(args)).value)

/** Solves the tasks of even levels, fails the others: a solver whose verdicts the test knows. */
const evenLevels: Solver = (task, episode, rng) => {
  if (task.level % 2 === 0) oracle(task, episode, rng)
}

describe("the pass@k filter", () => {
  it("keeps the solvable tasks with their pass rates and drops the others", () => {
    const unit = synthesizeUnit(9, "general", 0, 3)
    const counts = { unsolvable: 0, duplicates: 0 }
    const kept = filterUnit(unit, { k: 2, solver: evenLevels }, 9, new Set(), counts)
    const even = unit.tasks.filter((t) => t.level % 2 === 0).map((t) => t.id)
    expect(kept.map((r) => r.metadata.id)).toEqual(even)
    expect(counts.unsolvable).toBe(unit.tasks.length - even.length)
    for (const r of kept) expect(r.metadata.pass_at_k).toEqual({ k: 2, passes: 2, rate: 1 })
  })

  it("drops a task already kept in the shard (same prompt and state)", () => {
    const unit = synthesizeUnit(9, "code", 1, 1)
    const doubled = { ...unit, tasks: [...unit.tasks, ...unit.tasks], records: [...unit.records, ...unit.records] }
    const counts = { unsolvable: 0, duplicates: 0 }
    const kept = filterUnit(doubled, { k: 1, solver: oracle }, 9, new Set(), counts)
    expect(kept.length).toBe(1)
    expect(counts).toEqual({ unsolvable: 0, duplicates: 1 })
  })

  it("in synth: fewer or equal tasks, each with pass@k > 0 and a rate, every record still valid; same seed, same bytes", async () => {
    const run = (out: string) =>
      Effect.runPromise(
        synthesize({ out, preset: "quick", plan: tinyPlan, seed: 9, resume: false, filter: { k: 4 } }).pipe(
          Effect.provide(Progress.layerSilent),
        ),
      )
    const a = join(root, "a")
    const stats = await run(a)
    expect(stats.tasks.total).toBeGreaterThan(0)
    expect(stats.tasks.total).toBeLessThanOrEqual(23)
    const rates: Array<number> = []
    for (const file of recordFiles(a))
      for (const line of readRecords(file)) {
        expect(line.error).toBeUndefined()
        const record = line.value as typeof TaskRecordSchema.Type
        const p = record.metadata.pass_at_k
        expect(p?.k).toBe(4)
        expect(p?.passes).toBeGreaterThan(0)
        rates.push(p?.rate ?? Number.NaN)
      }
    expect(rates.length).toBe(stats.tasks.total)
    expect(JSON.parse(readFileSync(join(a, "manifest.json"), "utf8")).filter).toEqual({
      passK: 4,
      solver: "noisy-oracle-0.3",
    })
    const b = join(root, "b")
    await run(b)
    for (const file of recordFiles(a)) expect(readFileSync(file.replace(a, b), "utf8")).toBe(readFileSync(file, "utf8"))
  })
})
