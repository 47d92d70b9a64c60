/**
 * The general-agent synthesis loop (docs/agentdata.md §4), one domain at a time:
 *
 *   1. make data      `build(rng)` writes the domain's tables into a fresh SQLite database;
 *   2. write tools    the domain's toolset (10-15 OpenAI functions, the only access to that database);
 *   3. propose        `propose(rng, truth, level = 1)`: an easy task with its oracle solution and verifier;
 *   4. check          run the solution on a fresh copy through the tools, run the verifier on its result; a draft
 *                     whose solution does not pass is repaired (re-drawn) up to `repairs` times, else dropped;
 *   5. harder         level + 1 adds constraints and widens the search; solution and verifier are written together
 *                     per level, so they stay in step; tools marked `sinceLevel` join the toolset when a level
 *                     needs them.
 *
 * Draft proposals may read the whole truth (the proposer plants a feasible answer); solutions may only call tools.
 */
import type { Rng } from "@ds/core"
import type { OracleCall, ToolSpec, Verdict } from "../env/environment.ts"
import { refuse } from "../env/environment.ts"
import { type JsonSchema, s } from "../env/json-schema.ts"
import type { Db, SqlValue } from "../env/sqlite.ts"

export interface Draft {
  readonly prompt: string
  readonly solve: (call: OracleCall) => void
  readonly verify: (answer: unknown, state: Db) => Verdict
}

export interface DomainTool extends ToolSpec {
  /** The escalation level at which the loop adds this tool (default 1). */
  readonly sinceLevel?: number
}

export interface Domain {
  readonly name: string
  /** The system prompt: the role and the domain's rules. */
  readonly system: string
  readonly maxLevel: number
  readonly build: (rng: Rng, db: Db) => void
  readonly tools: ReadonlyArray<DomainTool>
  readonly propose: (rng: Rng, truth: Db, level: number) => Draft | undefined
}

/** A read-only tool that runs one parameterised query. `one`: a single row or a refusal naming the missing key. */
export const queryTool = (
  name: string,
  description: string,
  params: Record<string, JsonSchema>,
  sql: string,
  one = false,
  sinceLevel?: number,
): DomainTool => ({
  name,
  description,
  parameters: s.obj(params),
  ...(sinceLevel === undefined ? {} : { sinceLevel }),
  run: ({ db }, args) => {
    const values = Object.keys(params).map((key) => args[key] as SqlValue)
    if (!one) return db.all(sql, values)
    return db.get(sql, values) ?? refuse(`${name}: nothing found for ${JSON.stringify(args)}`)
  },
})

export const submitTool = (description: string, params: Record<string, JsonSchema>): DomainTool => ({
  name: "submit_result",
  description: `Submit the final result and end the task. ${description}`,
  parameters: s.obj(params),
  run: ({ submit }, args) => {
    submit(args)
    return { submitted: true }
  },
})

/** Numbers read back from SQLite rows. */
export const num = (row: Record<string, unknown> | undefined, key: string): number => Number(row?.[key] ?? Number.NaN)

export const asRecord = (answer: unknown): Record<string, unknown> =>
  typeof answer === "object" && answer !== null && !Array.isArray(answer) ? (answer as Record<string, unknown>) : {}

export const asNumbers = (value: unknown): Array<number> =>
  Array.isArray(value) ? value.map((v) => (typeof v === "number" ? v : Number.NaN)) : []

/** Rounds money to cents so sums compare exactly. */
export const cents = (x: number): number => Math.round(x * 100) / 100

export const pick = <T>(rng: Rng, items: ReadonlyArray<T>, n: number): Array<T> => rng.shuffle(items).slice(0, n)

export const FIRST = [
  "Ana",
  "Ben",
  "Chen",
  "Dara",
  "Eli",
  "Fay",
  "Gus",
  "Hana",
  "Ivo",
  "Jun",
  "Kai",
  "Lea",
  "Mo",
  "Noa",
]
export const LAST = ["Ito", "Kim", "Lopez", "Meyer", "Novak", "Okafor", "Park", "Quinn", "Rossi", "Silva", "Tan"]
export const personName = (rng: Rng, used: Set<string>): string => {
  for (;;) {
    const name = `${rng.choice(FIRST)} ${rng.choice(LAST)}`
    if (!used.has(name)) {
      used.add(name)
      return name
    }
  }
}
