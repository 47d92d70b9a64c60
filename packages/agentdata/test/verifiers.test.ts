import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { domains, Episode, loadRuntimes, synthesizeUnit, type TaskRecord } from "../src/index.ts"

beforeAll(() => Effect.runPromise(loadRuntimes))

/**
 * Deterministic mutations of a submitted answer: each number replaced by -x - 1 (never an id, a count or an amount
 * that any task accepts), each string edited, each array shortened. Nudging an id by one is not a mutation that must
 * fail: a constraint verifier rightly accepts another hotel that meets every constraint.
 */
const mutations = (answer: unknown): Array<unknown> => {
  const out: Array<unknown> = []
  const walk = (value: unknown, set: (v: unknown) => unknown) => {
    if (typeof value === "number") out.push(set(-value - 1))
    else if (typeof value === "string") out.push(set(`${value} (edited)`))
    else if (Array.isArray(value)) {
      if (value.length > 0) out.push(set(value.slice(1)))
      for (const [i, v] of value.entries()) walk(v, (w) => set(value.map((x, j) => (j === i ? w : x))))
    } else if (typeof value === "object" && value !== null)
      for (const [k, v] of Object.entries(value)) walk(v, (w) => set({ ...value, [k]: w }))
  }
  walk(answer, (v) => v)
  return out
}

/** Replays the oracle trajectory on a fresh copy, returning the final state's episode and the unit's task. */
const replay = (record: TaskRecord) => {
  const { spec } = record.metadata
  const unit = synthesizeUnit(spec.seed, spec.category, spec.unit, spec.tasks)
  const task = unit.tasks.find((t) => t.id === record.metadata.id)!
  const episode = new Episode(unit.env)
  for (const m of record.messages)
    if (m.role === "assistant") for (const c of m.tool_calls ?? []) episode.call(c.function.name, c.function.arguments)
  return { task, episode }
}

describe("verifiers accept their oracle and reject mutated answers", () => {
  const cases: Array<[string, "general" | "code-interpreter" | "search" | "code", number, number]> = [
    ...domains.map((d, i) => [`general/${d.name}`, "general", i, 2] as [string, "general", number, number]),
    ["code-interpreter", "code-interpreter", 0, 1],
    ["search", "search", 0, 4],
  ]
  for (const [name, category, unit, tasks] of cases)
    it(name, () => {
      for (const record of synthesizeUnit(2, category, unit, tasks).records) {
        expect(record.metadata.verifier).toEqual({ passed: true, failures: [] })
        const { task, episode } = replay(record)
        expect(task.verify(episode.answer, episode.db).ok).toBe(true)
        const mutated = mutations(record.metadata.answer)
        expect(mutated.length).toBeGreaterThan(0)
        for (const answer of mutated) expect(task.verify(answer, episode.db).ok, JSON.stringify(answer)).toBe(false)
        episode.close()
      }
    })

  it("code agent: a final state without the fix, or with edited tests, is rejected", () => {
    const record = synthesizeUnit(2, "code", 0, 1).records[0]!
    const unit = synthesizeUnit(2, "code", 0, 1)
    const task = unit.tasks[0]!
    const untouched = new Episode(unit.env)
    expect(task.verify("done", untouched.db).ok).toBe(false)
    const { episode } = replay(record)
    expect(task.verify("done", episode.db).ok).toBe(true)
    episode.call("write_file", JSON.stringify({ path: "test/lib.test.js", content: "" }))
    expect(task.verify("done", episode.db).failures).toContain("the test file was modified")
  })
})

describe("general domains", () => {
  it("has at least 8 domains with 10-15 tools each, trip planning among them", () => {
    expect(domains.length).toBeGreaterThanOrEqual(8)
    expect(domains.map((d) => d.name)).toContain("trip")
    for (const d of domains) {
      expect(d.tools.length, d.name).toBeGreaterThanOrEqual(9)
      expect(d.tools.length, d.name).toBeLessThanOrEqual(15)
    }
  })
})
