/**
 * pass@k filtering with a baseline solver (docs/agentdata.md §12). A solver plays one episode of a task through
 * its tools; pass@k runs it k times with independent seeds and counts verifier passes. The paper keeps tasks with
 * pass@k > 0 and uses pass rates as difficulty.
 *
 * The built-in baseline is the noisy oracle. It follows the task's oracle, but at each tool call, with probability
 * ε, it nudges one numeric argument (an id, an amount, anywhere in the arguments) to a nearby wrong value, as a careless agent would. A task whose solution needs
 * more calls fails more often, so the pass rate orders tasks by how much precise work they need. Any
 * `LanguageModel`-driven solver fits the same `Solver` type.
 */
import type { Rng } from "@ds/core"
import { type Environment, Episode, type OracleCall, type Task } from "../env/environment.ts"

/** Plays one episode: calls tools on `episode` and ends with the task's submit tool. */
export type Solver = (task: Task, episode: Episode, rng: Rng) => void

export const noisyOracle =
  (epsilon: number): Solver =>
  (task, episode, rng) => {
    const call: OracleCall = (name, args) => {
      let sent: unknown = args
      if (rng.float() < epsilon) {
        // One numeric leaf anywhere in the arguments (ids in nested plans too) is nudged.
        const paths: Array<Array<string | number>> = []
        const walk = (value: unknown, path: Array<string | number>) => {
          if (typeof value === "number") paths.push(path)
          else if (Array.isArray(value)) for (const [i, v] of value.entries()) walk(v, [...path, i])
          else if (typeof value === "object" && value !== null)
            for (const [k, v] of Object.entries(value)) walk(v, [...path, k])
        }
        walk(args, [])
        if (paths.length > 0) {
          const path = rng.choice(paths)
          const copy = JSON.parse(JSON.stringify(args)) as Record<string | number, unknown>
          let at = copy
          for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>
          const last = path[path.length - 1] as string | number
          at[last] = (at[last] as number) + rng.int(1, 4)
          sent = copy
        }
      }
      const outcome = episode.call(name, JSON.stringify(sent))
      if (!outcome.ok) throw new Error(outcome.content)
      return outcome.value
    }
    task.solve(call)
  }

export interface PassAtK {
  readonly k: number
  readonly passes: number
  /** passes / k: the task's difficulty as a pass rate. */
  readonly rate: number
  /** pass@k > 0: kept by the filter. */
  readonly solvable: boolean
}

export const passAtK = (env: Environment, task: Task, solver: Solver, k: number, rng: Rng): PassAtK => {
  let passes = 0
  for (let attempt = 0; attempt < k; attempt++) {
    const episode = new Episode(env)
    try {
      solver(task, episode, rng.fork(attempt))
      if (episode.submitted && task.verify(episode.answer, episode.db).ok) passes++
    } catch {
      // A failed tool call the solver could not recover from: a failed attempt.
    } finally {
      episode.close()
    }
  }
  return { k, passes, rate: passes / k, solvable: passes > 0 }
}
