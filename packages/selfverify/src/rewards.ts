/**
 * The rewards of DeepSeekMath-V2 (docs/selfverify.md §4).
 *
 *   verifier            R = R_format(V') · R_score(s', s)           R_score(s', s) = 1 − |s' − s|
 *   meta-verifier       R = R_format(M') · R_score(ms', ms)
 *   enhanced verifier   R = R_format(V') · R_score(s', s) · R_meta   R_meta = ms of V' by the meta-verifier
 *   generator           R = R_format(Y, Z) · (α · R_Y + β · R_Z)    R_Y = s (verifier's score of the proof Y)
 *                                                                   R_Z = R_score(s', s) · ms(Z)
 *                       α = 0.76, β = 0.24 (the paper's values)
 *
 * With R_format = 1 and ms = 1: correct and claims 1 -> 1.00; correct and claims 0 -> 0.76; half-correct and
 * claims 0.5 -> 0.62; half-correct and claims 1 -> 0.50; wrong and admits 0 -> 0.24; wrong and claims 1 -> 0.00.
 * A missing score (null) counts as a format failure, so it earns 0.
 */
import type { ParseResult, Score } from "./parse.ts"

/** R_score(s', s) = 1 − |s' − s|. */
export const scoreProximity = (predicted: number, target: number): number => 1 - Math.abs(predicted - target)

/** R_format from a parse: 1 when the key phrases and a valid score are present. */
export const formatReward = (parse: Pick<ParseResult, "format_ok" | "score">): 0 | 1 =>
  parse.format_ok && parse.score !== null ? 1 : 0

/** Verifier reward against the label s (human, oracle or auto-label). */
export const verifierReward = (parse: ParseResult, label: Score): number =>
  parse.score === null ? 0 : formatReward(parse) * scoreProximity(parse.score, label)

/** Meta-verifier reward against the expert (or oracle) meta-score ms. */
export const metaVerifierReward = (parse: ParseResult, label: Score): number => verifierReward(parse, label)

/** Enhanced verifier reward: the verifier reward times the meta-verifier's quality score of the analysis. */
export const enhancedVerifierReward = (parse: ParseResult, label: Score, metaScore: number): number =>
  verifierReward(parse, label) * metaScore

export interface GeneratorRewardWeights {
  /** Weight of the proof's score R_Y. Default 0.76 (DeepSeekMath-V2 §2.2.1). */
  readonly alpha: number
  /** Weight of the self-evaluation's reward R_Z. Default 0.24 (DeepSeekMath-V2 §2.2.1). */
  readonly beta: number
}

export const defaultGeneratorWeights: GeneratorRewardWeights = { alpha: 0.76, beta: 0.24 }

export interface GeneratorRewardInput {
  /** The generator output's parse (format and self-score s'). */
  readonly parse: Pick<ParseResult, "format_ok" | "score">
  /** The verifier's score s of the proof (R_Y). */
  readonly proofScore: number
  /** The meta-verifier's quality score ms of the self-evaluation. Default 1. */
  readonly metaScore?: number
}

/** Generator reward with self-verification: R_format · (α · s + β · (1 − |s' − s|) · ms). */
export const generatorReward = (
  input: GeneratorRewardInput,
  weights: GeneratorRewardWeights = defaultGeneratorWeights,
): number => {
  const selfScore = input.parse.score
  if (selfScore === null || formatReward(input.parse) === 0) return 0
  const rz = scoreProximity(selfScore, input.proofScore) * (input.metaScore ?? 1)
  return weights.alpha * input.proofScore + weights.beta * rz
}
