/**
 * The unit of synthesis (docs/agentdata.md §5): one environment and its tasks, each with its oracle record. A
 * category synthesizer turns (rng, spec) into a unit or rejects the draw (then the pipeline draws again from the
 * next fork, so the result is still a function of the seed).
 */
import type { Rng } from "@ds/core"
import type { Category, Environment, Task } from "../env/environment.ts"
import type { TaskRecord, UnitSpec } from "../pipeline/record.ts"

export interface SynthesizedUnit {
  readonly env: Environment
  readonly tasks: ReadonlyArray<Task>
  readonly records: ReadonlyArray<TaskRecord>
}

export interface CategorySynthesizer {
  readonly category: Category
  readonly synthesize: (rng: Rng, spec: UnitSpec) => SynthesizedUnit | undefined
}
