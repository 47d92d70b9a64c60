/**
 * Length penalty: DAPO's soft overlong punishment (Yu et al. 2025, eq. 13; OpenRLHF `overlong_penalty_factor`).
 *
 *   L = completion length in tokens, Lmax = maxLength, C = buffer
 *   r = 0                      if L ≤ Lmax − C
 *   r = ((Lmax − C) − L) / C   if Lmax − C < L ≤ Lmax
 *   r = −1                     if L > Lmax
 *
 * Scaled by `factor` (default 1). With C = 0 the ramp disappears: 0 up to Lmax, −1 beyond.
 */
import { ConfigError } from "@ds/core"
import type { RewardFunction } from "./reward-function.ts"

export interface LengthPenaltyOptions {
  readonly maxLength: number
  /** Width of the linear ramp before `maxLength`. Default 0. */
  readonly buffer?: number
  /** Multiplier of the penalty. Default 1. */
  readonly factor?: number
}

/** The DAPO penalty for a completion of `length` tokens. */
export const overlongPenalty = (length: number, maxLength: number, buffer: number): number => {
  const free = maxLength - buffer
  if (length <= free) return 0
  if (length > maxLength) return -1
  return (free - length) / buffer
}

export const lengthPenaltyReward = (options: LengthPenaltyOptions): RewardFunction => {
  const buffer = options.buffer ?? 0
  const factor = options.factor ?? 1
  if (!(buffer >= 0 && buffer <= options.maxLength))
    throw new ConfigError({ field: "buffer", reason: `must be in [0, maxLength=${options.maxLength}], got ${buffer}` })
  return {
    name: "length_penalty",
    score: (sample) => factor * overlongPenalty(sample.completionTokens.length, options.maxLength, buffer),
  }
}
