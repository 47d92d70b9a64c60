import { Rng } from "@ds/core"
import { Effect } from "effect"
import { beforeAll, expect, it } from "vitest"
import { loadRuntimes, noisyOracle, passAtK, synthesizeUnit } from "../src/index.ts"

beforeAll(() => Effect.runPromise(loadRuntimes))

it("pass@k: the exact oracle always passes, the noisy baseline sometimes fails, and the rate is seeded", () => {
  const unit = synthesizeUnit(6, "general", 0, 3) // trip planning, levels 1-3
  const rng = Rng.make(1)
  for (const task of unit.tasks) expect(passAtK(unit.env, task, noisyOracle(0), 4, rng).rate).toBe(1)
  const noisy = unit.tasks.map((task) => passAtK(unit.env, task, noisyOracle(0.5), 8, rng.fork(task.id)))
  expect(noisy.some((r) => r.rate < 1)).toBe(true)
  expect(unit.tasks.map((task) => passAtK(unit.env, task, noisyOracle(0.5), 8, rng.fork(task.id)))).toEqual(noisy)
})
