/**
 * Held-out evaluation of a policy on a task:
 *
 *   accuracy = fraction of held-out prompts whose GREEDY completion scores 1 on the accuracy reward
 *   reward   = mean total reward of `samples` SAMPLED completions per held-out prompt (the quantity GRPO raises);
 *              NaN with samples = 0
 *
 * Sampling uses the training temperature / top-p / top-k and a fixed seed, so "before" and "after" compare the
 * same draws of the random stream.
 */
import type { Rng } from "@ds/core"
import type { Model, SamplingOptions, TextTokenizer } from "@ds/model"
import { Effect } from "effect"
import { numeric } from "../errors.ts"
import { scoreRewards } from "../rewards/reward-function.ts"
import { sampleRollouts } from "../rollout/rollouts.ts"
import { type GrpoTask, toScoredSample } from "../tasks/task.ts"

export interface EvaluationOptions {
  readonly samples: number
  readonly sampling: SamplingOptions
  readonly maxNewTokens: number
  readonly rng: Rng
  /** Weights of the task's reward functions (GrpoConfig `rewardWeights`); default 1 each. */
  readonly rewardWeights?: ReadonlyArray<number>
}

export interface Evaluation {
  /** Greedy accuracy on the held-out prompts. */
  readonly accuracy: number
  /** Mean total reward of sampled completions on the held-out prompts. */
  readonly reward: number
}

const mean = (xs: ReadonlyArray<number>): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length

export const evaluatePolicy = <E, R>(
  model: Model,
  tokenizer: TextTokenizer,
  task: GrpoTask<E, R>,
  options: EvaluationOptions,
) =>
  Effect.gen(function* () {
    const common = {
      maxNewTokens: options.maxNewTokens,
      stopTokens: task.stopTokens,
      recordRouting: false,
      recordKeptTokens: false,
    }
    const sample = task.rollout ?? sampleRollouts
    const greedy = yield* numeric("evaluation", () =>
      sample(model, tokenizer, task.evalPrompts, {
        ...common,
        numGenerations: 1,
        sampling: { temperature: 0 },
        idPrefix: "eval-greedy",
        rng: options.rng.fork("greedy"),
      }),
    )
    const sampled =
      options.samples === 0
        ? []
        : yield* numeric("evaluation", () =>
            sample(model, tokenizer, task.evalPrompts, {
              ...common,
              numGenerations: options.samples,
              sampling: options.sampling,
              idPrefix: "eval-sampled",
              rng: options.rng.fork("sampled"),
            }),
          )
    const accuracyName = task.accuracyReward ?? task.rewards[0]?.name
    const accuracyFn = task.rewards.find((r) => r.name === accuracyName)
    const correct =
      accuracyFn === undefined ? { perFunction: [[]] } : yield* scoreRewards([accuracyFn], greedy.map(toScoredSample))
    const sampledTable = yield* scoreRewards(
      task.rewards,
      sampled.map(toScoredSample),
      options.rewardWeights === undefined ? {} : { weights: options.rewardWeights },
    )
    const hits = (correct.perFunction[0] ?? []).filter((s) => s === 1).length
    return {
      accuracy: greedy.length === 0 ? Number.NaN : hits / greedy.length,
      reward: mean(sampledTable.total),
    } satisfies Evaluation
  })
