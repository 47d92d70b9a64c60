/**
 * Presets (docs/agentdata.md §7): how many units (environments) and tasks each category gets, and how units are
 * grouped into shards. `paper` reproduces Table 1 of DeepSeek-V3.2 (85,267 tasks; 1,827 general-agent environments
 * with 4,417 tasks); `seed` scales every category by 850,000 / 85,267 to 850,000 prompt-response pairs; `quick` is
 * a small set for tests and demos.
 */
import type { Category } from "../env/environment.ts"

export interface CategoryPlan {
  readonly units: number
  readonly tasks: number
  readonly unitsPerShard: number
}

export type Plan = Readonly<Record<Category, CategoryPlan>>
export const presetNames = ["quick", "paper", "seed"] as const
export type PresetName = (typeof presetNames)[number]

/** Search questions per corpus; 2,011 corpora × 25 = 50,275, the paper's count. */
export const SEARCH_TASKS_PER_UNIT = 25

export const presets: Readonly<Record<PresetName, Plan>> = {
  quick: {
    general: { units: 16, tasks: 40, unitsPerShard: 8 },
    "code-interpreter": { units: 20, tasks: 20, unitsPerShard: 10 },
    search: { units: 2, tasks: 40, unitsPerShard: 1 },
    code: { units: 20, tasks: 20, unitsPerShard: 10 },
  },
  paper: {
    general: { units: 1827, tasks: 4417, unitsPerShard: 50 },
    "code-interpreter": { units: 5908, tasks: 5908, unitsPerShard: 250 },
    search: { units: 2011, tasks: 50275, unitsPerShard: 20 },
    code: { units: 24667, tasks: 24667, unitsPerShard: 500 },
  },
  seed: {
    general: { units: 18213, tasks: 44032, unitsPerShard: 100 },
    "code-interpreter": { units: 58895, tasks: 58895, unitsPerShard: 500 },
    search: { units: 20047, tasks: 501175, unitsPerShard: 20 },
    code: { units: 245898, tasks: 245898, unitsPerShard: 1000 },
  },
}

/** Tasks of unit `u`: an even split, the first `tasks mod units` units taking one more. */
export const tasksOfUnit = (plan: CategoryPlan, unit: number): number => {
  const base = Math.floor(plan.tasks / plan.units)
  return base + (unit < plan.tasks % plan.units ? 1 : 0)
}

export const shardCount = (plan: CategoryPlan): number => Math.ceil(plan.units / plan.unitsPerShard)
