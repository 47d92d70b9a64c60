/**
 * Output format reward (docs/grpo.md §9: format rules checked by parsers).
 *
 *   r = 1 if `pattern` matches the completion, else 0
 *
 * `bareNumberFormat` accepts a completion that is only a number (optionally signed/decimal) with surrounding
 * whitespace; `boxedAnswerFormat` asks for a `\boxed{…}` answer.
 */
import type { RewardFunction } from "./reward-function.ts"

export const bareNumberFormat = /^\s*-?\d+(?:\.\d+)?\s*$/
export const boxedAnswerFormat = /\\boxed\{[^}]+\}/

export interface FormatRewardOptions {
  readonly pattern?: RegExp
  /** Metric name. Default "format". */
  readonly name?: string
}

/** 1 when the completion matches `pattern` (default `bareNumberFormat`), else 0. */
export const formatReward = (options: FormatRewardOptions = {}): RewardFunction => {
  const pattern = options.pattern ?? bareNumberFormat
  return {
    name: options.name ?? "format",
    score: (sample) => {
      pattern.lastIndex = 0
      return pattern.test(sample.completion) ? 1 : 0
    },
  }
}
