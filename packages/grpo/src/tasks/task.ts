/**
 * The task interface (what GRPO trains on): a source of prompts, held-out prompts, and the reward functions that score completions.
 */
import type { Rng } from "@ds/core"
import type { RewardFunction, ScoredSample } from "../rewards/reward-function.ts"
import { type RolloutRecord, recordCompletion, recordPrompt } from "../rollout/record.ts"
import type { RolloutSampler, TaskPrompt } from "../rollout/rollouts.ts"

export interface GrpoTask<E = never, R = never> {
  readonly name: string
  /** `count` training prompts drawn with `rng` (the trainer forks a fresh stream per step). */
  readonly trainPrompts: (rng: Rng, count: number) => ReadonlyArray<TaskPrompt>
  /** Fixed held-out prompts for evaluation. */
  readonly evalPrompts: ReadonlyArray<TaskPrompt>
  readonly rewards: ReadonlyArray<RewardFunction<E, R>>
  /** Name of the reward whose score 1 means "correct" (for accuracy). Default: the first reward. */
  readonly accuracyReward?: string
  /** Tokens that end a completion (e.g. EOS). */
  readonly stopTokens: ReadonlyArray<number>
  /** Samples rollouts instead of the single-turn `sampleRollouts` (e.g. multi-turn tool use). Default: single-turn. */
  readonly rollout?: RolloutSampler
}

/** The view of a record a reward function gets. */
export const toScoredSample = (record: RolloutRecord): ScoredSample => ({
  prompt: recordPrompt(record),
  completion: recordCompletion(record),
  completionTokens: record.completionTokens,
  truncated: record.truncated,
  metadata: record.metadata,
})
