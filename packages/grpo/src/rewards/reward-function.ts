/**
 * Reward functions and their weighted combination (docs/grpo.md §2, §9: "R_i comes from a set of reward models /
 * rules"; TRL's reward-function API).
 *
 *   R_i = Σ_f w_f · r_f(o_i)      over the functions f that did not skip sample i
 *
 * A function is plain (returns a number) or effectful (returns an Effect, e.g. a call to a judge model), and may
 * return "skip" when it does not apply to a sample (TRL: `None`). A sample every function skipped gets R = 0, as
 * TRL's `nansum` does, and is counted in `allSkipped`.
 */
import { Effect } from "effect"

/** What a reward function sees of one completion. */
export interface ScoredSample {
  readonly prompt: string
  readonly completion: string
  readonly completionTokens: ReadonlyArray<number>
  /** The completion hit the length budget before an end token. */
  readonly truncated: boolean
  /** Task data carried with the prompt, e.g. `{ answer: 42 }`. */
  readonly metadata: Readonly<Record<string, unknown>>
}

/** A score, or "skip" when the function does not apply to the sample. */
export type RewardScore = number | "skip"

export interface RewardFunction<E = never, R = never> {
  /** Used in metric names (`rewards/<name>/mean`). */
  readonly name: string
  readonly score: (sample: ScoredSample) => RewardScore | Effect.Effect<RewardScore, E, R>
}

/** Rewards of a batch: one row per function, `null` where it skipped. */
export interface RewardTable {
  readonly names: ReadonlyArray<string>
  readonly weights: ReadonlyArray<number>
  /** [F][N] */
  readonly perFunction: ReadonlyArray<ReadonlyArray<number | null>>
  /** [N] weighted sum over the functions that did not skip. */
  readonly total: ReadonlyArray<number>
  /** Samples that every function skipped (their total is 0). */
  readonly allSkipped: number
}

const toEffect = <E, R>(value: RewardScore | Effect.Effect<RewardScore, E, R>): Effect.Effect<RewardScore, E, R> =>
  Effect.isEffect(value) ? (value as Effect.Effect<RewardScore, E, R>) : Effect.succeed(value)

/** Weighted sum of one sample's scores, skipping nulls; null when all skipped. */
export const combineScores = (scores: ReadonlyArray<number | null>, weights: ReadonlyArray<number>): number | null => {
  let total = 0
  let any = false
  scores.forEach((score, f) => {
    if (score === null) return
    any = true
    total += (weights[f] ?? 1) * score
  })
  return any ? total : null
}

/**
 * Scores every sample with every function (effectful ones run with the given concurrency) and combines them.
 * `weights` defaults to 1 for each function (TRL `reward_weights`).
 */
export const scoreRewards = <E, R>(
  functions: ReadonlyArray<RewardFunction<E, R>>,
  samples: ReadonlyArray<ScoredSample>,
  options: { readonly weights?: ReadonlyArray<number>; readonly concurrency?: number } = {},
): Effect.Effect<RewardTable, E, R> =>
  Effect.gen(function* () {
    const weights = functions.map((_, f) => options.weights?.[f] ?? 1)
    const perFunction = yield* Effect.forEach(functions, (fn) =>
      Effect.forEach(samples, (sample) => Effect.map(toEffect(fn.score(sample)), (s) => (s === "skip" ? null : s)), {
        concurrency: options.concurrency ?? 8,
      }),
    )
    let allSkipped = 0
    const total = samples.map((_, i) => {
      const combined = combineScores(
        perFunction.map((row) => row[i] ?? null),
        weights,
      )
      if (combined === null) allSkipped++
      return combined ?? 0
    })
    return { names: functions.map((fn) => fn.name), weights, perFunction, total, allSkipped }
  })

/** Mean and (population) standard deviation of the non-skipped values of each function. */
export const rewardFunctionStats = (
  table: RewardTable,
): Record<string, { readonly mean: number; readonly std: number }> => {
  const stats: Record<string, { mean: number; std: number }> = {}
  table.names.forEach((name, f) => {
    const values = (table.perFunction[f] ?? []).filter((v): v is number => v !== null)
    const mean = values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length
    const variance = values.length === 0 ? Number.NaN : values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length
    stats[name] = { mean, std: Math.sqrt(variance) }
  })
  return stats
}
