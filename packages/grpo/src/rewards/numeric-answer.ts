/**
 * Exact numeric answer reward (a rule-based verifier, docs/grpo.md §9).
 *
 *   r = 1  if the completion's answer equals the reference within |a − b| ≤ tol · max(1, |b|)
 *   r = 0  otherwise (including no number at all)
 *   "skip" when the sample carries no reference answer
 *
 * The answer is the content of the last `\boxed{…}`, else what follows the last "answer:" / "####", else the
 * last number in the completion. Thousands separators (`1,234`) are accepted.
 */
import type { RewardFunction, ScoredSample } from "./reward-function.ts"

const numberPattern = /-?\d[\d,]*(?:\.\d+)?|-?\.\d+/g

const lastNumber = (text: string): number | null => {
  const matches = text.match(numberPattern)
  const last = matches?.[matches.length - 1]
  if (last === undefined) return null
  const value = Number(last.replaceAll(",", ""))
  return Number.isFinite(value) ? value : null
}

/** The answer a completion states, by the precedence above; null when it states none. */
export const extractNumericAnswer = (completion: string): number | null => {
  const boxed = [...completion.matchAll(/\\boxed\{([^}]*)\}/g)]
  const lastBoxed = boxed[boxed.length - 1]?.[1]
  if (lastBoxed !== undefined) return lastNumber(lastBoxed)
  const marker = Math.max(completion.toLowerCase().lastIndexOf("answer:"), completion.lastIndexOf("####"))
  if (marker >= 0) {
    const after = lastNumberAfter(completion.slice(marker))
    if (after !== null) return after
  }
  return lastNumber(completion)
}

const lastNumberAfter = (text: string): number | null => {
  const match = text.match(numberPattern)?.[0]
  if (match === undefined) return null
  const value = Number(match.replaceAll(",", ""))
  return Number.isFinite(value) ? value : null
}

const referenceAnswer = (sample: ScoredSample, key: string): number | null => {
  const raw = sample.metadata[key]
  if (typeof raw === "number") return raw
  if (typeof raw === "string" && raw.trim() !== "") {
    const value = Number(raw.replaceAll(",", ""))
    return Number.isFinite(value) ? value : null
  }
  return null
}

export interface NumericAnswerOptions {
  /** Metadata field holding the reference answer. Default "answer". */
  readonly answerKey?: string
  /** Relative tolerance. Default 1e-6. */
  readonly tolerance?: number
  /** Custom extraction of the stated answer. Default `extractNumericAnswer`. */
  readonly extract?: (completion: string) => number | null
}

/** 1 for a correct numeric answer, 0 otherwise, "skip" without a reference. */
export const numericAnswerReward = (options: NumericAnswerOptions = {}): RewardFunction => {
  const key = options.answerKey ?? "answer"
  const tolerance = options.tolerance ?? 1e-6
  const extract = options.extract ?? extractNumericAnswer
  return {
    name: "numeric_answer",
    score: (sample) => {
      const reference = referenceAnswer(sample, key)
      if (reference === null) return "skip"
      const stated = extract(sample.completion)
      if (stated === null) return 0
      return Math.abs(stated - reference) <= tolerance * Math.max(1, Math.abs(reference)) ? 1 : 0
    },
  }
}
