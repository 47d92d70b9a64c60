/**
 * Group-relative advantages (docs/grpo.md §2; TRL `scale_rewards`).
 *
 *   Â_i = R_i − mean_{j ∈ group(i)} R_j                       "none"  (V3.2: no division by the std)
 *   Â_i = (R_i − mean_group) / (std_group + 1e-4)              "group" (GRPO / DeepSeekMath, TRL's default)
 *   Â_i = (R_i − mean_group) / (std_batch + 1e-4)              "batch" (TRL; "PPO Lite")
 *
 * std is the unbiased (Bessel) estimate as in `torch.std`. Rewards come in groups of G consecutive samples
 * (prompt-major order). A group is "zero-std" when all its rewards are equal (within 1e-6): its advantages are 0,
 * and with `dropZeroStdGroups` (DAPO dynamic sampling) it is left out of the update altogether.
 */
import { InputError } from "@ds/core"

export interface AdvantageOptions {
  readonly groupSize: number
  readonly scaleRewards?: "none" | "group" | "batch"
  readonly dropZeroStdGroups?: boolean
}

export interface Advantages {
  /** [N] advantage of every sample (0 for samples of dropped groups). */
  readonly advantages: Float32Array
  /** Indices of the groups kept for the update. */
  readonly keptGroups: ReadonlyArray<number>
  /** Indices of the samples kept for the update (the samples of `keptGroups`). */
  readonly keptSamples: ReadonlyArray<number>
  /** Fraction of groups whose rewards are all equal (TRL `frac_reward_zero_std`). */
  readonly zeroStdFraction: number
}

const scaleEpsilon = 1e-4
const zeroStdTolerance = 1e-6

const mean = (xs: ArrayLike<number>): number => {
  let sum = 0
  for (let i = 0; i < xs.length; i++) sum += xs[i] ?? 0
  return sum / xs.length
}

/** Unbiased standard deviation; 0 for fewer than two values. */
export const unbiasedStd = (xs: ArrayLike<number>): number => {
  if (xs.length < 2) return 0
  const m = mean(xs)
  let sum = 0
  for (let i = 0; i < xs.length; i++) sum += ((xs[i] ?? 0) - m) ** 2
  return Math.sqrt(sum / (xs.length - 1))
}

export const computeAdvantages = (rewards: ReadonlyArray<number>, options: AdvantageOptions): Advantages => {
  const g = options.groupSize
  if (!Number.isInteger(g) || g < 1 || rewards.length % g !== 0)
    throw new InputError({ source: "rewards", reason: `length ${rewards.length} is not a multiple of groupSize ${g}` })
  const scale = options.scaleRewards ?? "none"
  const nGroups = rewards.length / g
  const batchStd = unbiasedStd(rewards)
  const advantages = new Float32Array(rewards.length)
  const keptGroups: Array<number> = []
  const keptSamples: Array<number> = []
  let zeroStd = 0
  for (let group = 0; group < nGroups; group++) {
    const values = rewards.slice(group * g, group * g + g)
    const groupMean = mean(values)
    const groupStd = unbiasedStd(values)
    const isZeroStd = Math.max(...values) - Math.min(...values) <= zeroStdTolerance
    if (isZeroStd) zeroStd++
    if (isZeroStd && options.dropZeroStdGroups === true) continue
    const denominator = scale === "group" ? groupStd + scaleEpsilon : scale === "batch" ? batchStd + scaleEpsilon : 1
    keptGroups.push(group)
    values.forEach((r, j) => {
      advantages[group * g + j] = (r - groupMean) / denominator
      keptSamples.push(group * g + j)
    })
  }
  return { advantages, keptGroups, keptSamples, zeroStdFraction: nGroups === 0 ? 0 : zeroStd / nGroups }
}
