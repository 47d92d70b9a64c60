/**
 * The GRPO loss as scaled in DeepSeek-V3.2 (docs/grpo.md §1-§5).
 *
 *   l_it = −( pg_it · M_i − β · D_it )          loss per token (minimised)
 *   L    = aggregate(l, completionMask)          "grpo": per-sequence token mean, then mean over sequences
 *
 * pg = clipped surrogate (surrogate.ts), M = off-policy sequence mask (off-policy-mask.ts; multiplies only the
 * policy term), D = per-token KL to the reference (kl.ts: V3.2's unbiased (π_θ/π_old)·k3, or plain k3).
 *
 * Four log-prob tensors, kept apart because TRL (#4857) and slime (#1917) shipped masking bugs by mixing them up:
 *   policyLogps    ℓ_θ        the policy being trained (differentiable), after Keep Sampling Mask renormalisation
 *   samplingLogps  ℓ_sampling the sampling engine's log-probs recorded with the rollout: π_old of V3.2; OPSM reads it
 *   oldLogps       ℓ_old      optional: the trainer's own log-probs of the rollout policy (TRL `old_per_token_logps`);
 *                             when given, the ratio r = π_θ/π_old uses it, else it uses ℓ_sampling (V3.2)
 *   refLogps       ℓ_ref      the frozen reference; only read when β > 0
 * All [N, T]; advantages [N]; completionMask [N, T] (1 = completion token, 0 = padding or masked-out).
 * β = 0 skips the reference term entirely; δ = null skips OPSM.
 */

import { ConfigError, expectRank, expectShape, stopGradient } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { type GrpoLossConfig, upperClip } from "../config.ts"
import { aggregateTokenLoss } from "./aggregate.ts"
import { perTokenKl } from "./kl.ts"
import { offPolicySequenceMask, sequenceOffPolicyDivergence } from "./off-policy-mask.ts"
import { clippedSurrogate, logImportanceRatio } from "./surrogate.ts"
import { maskedMean, scoped } from "./tensor-utils.ts"

export interface GrpoLossInputs {
  readonly policyLogps: tf.Tensor2D
  readonly samplingLogps: tf.Tensor2D
  readonly oldLogps?: tf.Tensor2D
  readonly refLogps?: tf.Tensor2D
  readonly advantages: tf.Tensor1D
  readonly completionMask: tf.Tensor2D
  /** Completion tokens in the whole optimiser batch ("dapo" normaliser). */
  readonly numItemsInBatch?: number
}

/** The per-token pieces of the loss. */
export interface GrpoLossTerms {
  /** log r per token (sequence-level ratio broadcast when importanceSamplingLevel = "sequence"). [N, T] */
  readonly logRatio: tf.Tensor2D
  /** pg_it. [N, T] */
  readonly surrogate: tf.Tensor2D
  /** M_i, 1 = keep. [N] */
  readonly sequenceMask: tf.Tensor1D
  /** D_it, null when β = 0. [N, T] */
  readonly kl: tf.Tensor2D | null
  /** l_it. [N, T] */
  readonly perTokenLoss: tf.Tensor2D
}

const checkInputs = (inputs: GrpoLossInputs, config: GrpoLossConfig): void => {
  const [n = 0, t = 0] = expectRank("policyLogps", inputs.policyLogps, 2)
  expectShape("samplingLogps", inputs.samplingLogps, [n, t])
  expectShape("completionMask", inputs.completionMask, [n, t])
  expectShape("advantages", inputs.advantages, [n])
  if (inputs.oldLogps !== undefined) expectShape("oldLogps", inputs.oldLogps, [n, t])
  if (config.beta > 0) {
    if (inputs.refLogps === undefined)
      throw new ConfigError({ field: "beta", reason: "beta > 0 needs refLogps (the reference model's log-probs)" })
    expectShape("refLogps", inputs.refLogps, [n, t])
  }
}

/** Every per-token term; the caller disposes them (or runs this inside `tf.tidy`). */
export const grpoLossTerms = (inputs: GrpoLossInputs, config: GrpoLossConfig): GrpoLossTerms => {
  checkInputs(inputs, config)
  return scoped(() => {
    const { policyLogps, samplingLogps, advantages, completionMask } = inputs
    const oldLogps = inputs.oldLogps ?? samplingLogps
    const logRatio = logImportanceRatio(policyLogps, oldLogps, completionMask, config.importanceSamplingLevel)
    const surrogate = clippedSurrogate(logRatio, advantages, { low: config.epsilon, high: upperClip(config) })
    const sequenceMask =
      config.offPolicyMaskThreshold === null
        ? (tf.onesLike(advantages) as tf.Tensor1D)
        : offPolicySequenceMask(advantages, policyLogps, samplingLogps, completionMask, config.offPolicyMaskThreshold)
    const policyTerm = tf.mul(surrogate, tf.expandDims(sequenceMask, 1))
    const kl =
      config.beta > 0 && inputs.refLogps !== undefined
        ? perTokenKl(config.klEstimator, policyLogps, oldLogps, inputs.refLogps)
        : null
    const objective = kl === null ? policyTerm : tf.sub(policyTerm, tf.mul(kl, config.beta))
    const perTokenLoss = tf.neg(objective) as tf.Tensor2D
    return { logRatio, surrogate, sequenceMask, kl, perTokenLoss }
  })
}

/** The scalar loss to minimise. */
export const grpoLoss = (inputs: GrpoLossInputs, config: GrpoLossConfig): tf.Scalar =>
  tf.tidy(() => {
    const terms = grpoLossTerms(inputs, config)
    const options =
      inputs.numItemsInBatch === undefined
        ? { maxCompletionLength: config.maxCompletionLength }
        : { maxCompletionLength: config.maxCompletionLength, numItemsInBatch: inputs.numItemsInBatch }
    return aggregateTokenLoss(terms.perTokenLoss, inputs.completionMask, config.lossType, options)
  })

/** Per-minibatch figures (TRL's logged metrics plus OPSM and train/sampling mismatch, docs/grpo.md §10). */
export interface GrpoLossStats {
  readonly loss: number
  /** Token mean of the KL estimate the config names (null when no reference log-probs were given). */
  readonly kl: number | null
  /** Token fraction with r < 1 − ε and Â < 0 (TRL `clip_ratio/low_mean`). */
  readonly clipLow: number
  /** Token fraction with r > 1 + ε_high and Â > 0 (TRL `clip_ratio/high_mean`). */
  readonly clipHigh: number
  /** clipLow + clipHigh (TRL `clip_ratio/region_mean`). */
  readonly clipRegion: number
  /** Fraction of sequences whose policy term OPSM masked. */
  readonly maskedFraction: number
  /** Token mean of |ℓ_θ − ℓ_sampling| (slime `train_rollout_logprob_abs_diff`). */
  readonly logpDiffMean: number
  /** Token max of |ℓ_θ − ℓ_sampling|. */
  readonly logpDiffMax: number
  /** Mean over sequences of mean_t (ℓ_sampling − ℓ_θ): the OPSM statistic. */
  readonly offPolicyDivergence: number
}

const scalar = (x: tf.Tensor): number => x.dataSync()[0] ?? Number.NaN

/** The figures of one minibatch, computed on detached copies (reads values back; not for the gradient tape). */
export const grpoLossStats = (inputs: GrpoLossInputs, config: GrpoLossConfig): GrpoLossStats =>
  scoped(() => {
    const policyLogps = stopGradient(inputs.policyLogps)
    const detached = { ...inputs, policyLogps }
    const loss = scalar(grpoLoss(detached, config))
    const terms = grpoLossTerms(detached, config)
    const oldLogps = inputs.oldLogps ?? inputs.samplingLogps
    const kl =
      inputs.refLogps === undefined ? null : perTokenKl(config.klEstimator, policyLogps, oldLogps, inputs.refLogps)
    const mask = inputs.completionMask
    const a = tf.expandDims(inputs.advantages, 1)
    const ratio = tf.exp(terms.logRatio)
    const low = tf.cast(tf.logicalAnd(tf.less(ratio, 1 - config.epsilon), tf.less(a, 0)), "float32")
    const high = tf.cast(tf.logicalAnd(tf.greater(ratio, 1 + upperClip(config)), tf.greater(a, 0)), "float32")
    const absDiff = tf.mul(tf.abs(tf.sub(policyLogps, inputs.samplingLogps)), mask)
    const clipLow = scalar(maskedMean(low, mask))
    const clipHigh = scalar(maskedMean(high, mask))
    return {
      loss,
      kl: kl === null ? null : scalar(maskedMean(kl, mask)),
      clipLow,
      clipHigh,
      clipRegion: clipLow + clipHigh,
      maskedFraction: scalar(tf.sub(1, tf.mean(terms.sequenceMask))),
      logpDiffMean: scalar(maskedMean(absDiff, mask)),
      logpDiffMax: scalar(tf.max(absDiff)),
      offPolicyDivergence: scalar(tf.mean(sequenceOffPolicyDivergence(policyLogps, inputs.samplingLogps, mask))),
    }
  })
