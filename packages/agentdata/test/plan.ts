import type { Plan } from "../src/index.ts"

/** A tiny plan for tests: every category, several shards each. */
export const tinyPlan: Plan = {
  general: { units: 4, tasks: 9, unitsPerShard: 2 },
  "code-interpreter": { units: 4, tasks: 4, unitsPerShard: 2 },
  search: { units: 2, tasks: 6, unitsPerShard: 1 },
  code: { units: 4, tasks: 4, unitsPerShard: 2 },
}
