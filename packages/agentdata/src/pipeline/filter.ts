/**
 * The pass@k filter of a synthesis run (docs/agentdata.md §12): each synthesized task is played k times by a solver
 * (the noisy-oracle baseline unless the caller brings another), and
 *
 *   kept      iff pass@k > 0 (some attempt passes its verifier: the task is solvable) and it is not a duplicate
 *   duplicate = same category, system prompt, user prompt and initial state (SHA-256 of the SQLite image) as a task
 *               kept earlier in the same shard (shards stay independent, so resume keeps giving the same bytes)
 *   recorded  metadata.pass_at_k = {k, passes, rate}: the rate is the task's difficulty as a pass rate
 *
 * Attempt a of task t draws from Rng.make(seed).fork("pass-at-k").fork(t.id).fork(a): the filter is a function of
 * the seed, like the rest of the shard.
 */
import { Rng } from "@ds/core"
import type { SynthesizedUnit } from "../categories/unit.ts"
import { sha256 } from "../env/environment.ts"
import { noisyOracle, passAtK, type Solver } from "./pass-at-k.ts"
import type { TaskRecord } from "./record.ts"

export interface PassFilter {
  readonly k: number
  /** Default: the noisy oracle with ε = 0.3 (`defaultFilterSolver`). */
  readonly solver?: Solver
  /** Names the solver in the manifest, so a resume with another solver is refused. */
  readonly solverName?: string
}

export const defaultFilterSolver = { name: "noisy-oracle-0.3", solver: noisyOracle(0.3) } as const

export interface FilterCounts {
  unsolvable: number
  duplicates: number
}

/** The unit's records that pass the filter, with their pass rates; bumps `counts`; `seen` spans one shard. */
export const filterUnit = (
  unit: SynthesizedUnit,
  filter: PassFilter,
  seed: number,
  seen: Set<string>,
  counts: FilterCounts,
): Array<TaskRecord> => {
  const imageHash = sha256(Buffer.from(unit.env.image).toString("base64"))
  const kept: Array<TaskRecord> = []
  unit.tasks.forEach((task, i) => {
    const record = unit.records[i]
    if (record === undefined) return
    const key = sha256(JSON.stringify([task.category, task.system, task.prompt, imageHash]))
    if (seen.has(key)) {
      counts.duplicates++
      return
    }
    const rng = Rng.make(seed).fork("pass-at-k").fork(task.id)
    const result = passAtK(unit.env, task, filter.solver ?? defaultFilterSolver.solver, filter.k, rng)
    if (!result.solvable) {
      counts.unsolvable++
      return
    }
    seen.add(key)
    kept.push({
      ...record,
      metadata: { ...record.metadata, pass_at_k: { k: result.k, passes: result.passes, rate: result.rate } },
    })
  })
  return kept
}
