/**
 * One general-agent environment through the synthesis loop (docs/agentdata.md §4): data, tools, an easy task,
 * check, then harder and harder; the unit keeps its `tasks` hardest checked levels.
 */
import type { Rng } from "@ds/core"
import type { SynthesizedUnit } from "../categories/unit.ts"
import type { Environment, Task } from "../env/environment.ts"
import { Db } from "../env/sqlite.ts"
import { type TaskRecord, tryOracle, type UnitSpec } from "../pipeline/record.ts"
import type { Domain } from "./domain.ts"

/** Re-draws allowed per level when a draft's solution fails its verifier or the draw is infeasible. */
export const REPAIRS = 8

export type { SynthesizedUnit } from "../categories/unit.ts"

export const synthesizeDomain = (
  domain: Domain,
  rng: Rng,
  envId: string,
  spec: UnitSpec,
  wanted: number,
): SynthesizedUnit | undefined => {
  const truth = Db.empty()
  try {
    domain.build(rng.fork("data"), truth)
    const image = truth.image()
    const tools = domain.tools.filter((tool) => (tool.sinceLevel ?? 1) <= domain.maxLevel)
    const env: Environment = { id: envId, category: "general", domain: domain.name, image, tools }
    const kept: Array<{ task: Task; record: TaskRecord }> = []
    for (let level = 1; level <= domain.maxLevel; level++) {
      const levelRng = rng.fork(`level-${level}`)
      for (let attempt = 0; attempt < REPAIRS; attempt++) {
        const draft = domain.propose(levelRng, truth, level)
        if (draft === undefined) continue
        const task: Task = {
          id: `${envId}/L${level}`,
          envId,
          category: "general",
          domain: domain.name,
          level,
          system: domain.system,
          prompt: draft.prompt,
          solve: draft.solve,
          verify: draft.verify,
        }
        const record = tryOracle(env, task, spec)
        if (record === undefined || !record.metadata.verifier.passed) continue
        kept.push({ task, record })
        break
      }
    }
    if (kept.length < wanted) return undefined
    const hardest = kept.slice(kept.length - wanted)
    return { env, tasks: hardest.map((k) => k.task), records: hardest.map((k) => k.record) }
  } finally {
    truth.close()
  }
}
