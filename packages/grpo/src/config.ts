/**
 * GRPO configuration (docs/grpo.md §10). Option names follow TRL's `GRPOConfig` in camelCase where
 * TRL has the option, so users can carry their settings over; every default cites its source.
 *
 * Defaults follow DeepSeek-V3.2 where the paper decides (no std division, per-sequence token mean, unbiased KL,
 * the four stabilisers on) and TRL where it does not (epsilon, learning rate, group size). Values V3.2 leaves
 * unknown (ε, β, δ, G) take TRL's documented defaults or suggestions.
 */
import { decodeConfigSync, withDefault } from "@ds/core"
import { Schema } from "effect"

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const NonNegative = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
const Positive = Schema.Finite.check(Schema.isGreaterThan(0))
const Probability = Schema.Finite.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(1))

/** How the per-token loss is reduced to a scalar (TRL `loss_type`). */
export const LossType = Schema.Literals(["grpo", "bnpo", "drGrpo", "dapo"])
export type LossType = typeof LossType.Type

/** Which per-token KL estimate is penalised (docs/grpo.md §4). */
export const KlEstimator = Schema.Literals(["unbiased", "k3"])
export type KlEstimator = typeof KlEstimator.Type

/** Scaling of the group-relative advantage (TRL `scale_rewards`). */
export const ScaleRewards = Schema.Literals(["none", "group", "batch"])
export type ScaleRewards = typeof ScaleRewards.Type

/** The loss options: what `grpoLoss` reads. */
export const GrpoLossConfigFields = {
  /** Lower clip range ε of the ratio (TRL `epsilon`, default 0.2; V3.2 value unknown). */
  epsilon: withDefault(NonNegative, 0.2),
  /** Upper clip range (TRL `epsilon_high`, DAPO clip-higher uses 0.28). Unset: equal to `epsilon`. */
  epsilonHigh: Schema.optionalKey(NonNegative),
  /** KL coefficient β (TRL `beta`, default 0.0: the reference model is not run; V3.2: weak or zero for maths). */
  beta: withDefault(NonNegative, 0),
  /** "unbiased": (π_θ/π_old)·k3, V3.2 §3.2 (TRL `use_bias_correction_kl`); "k3": plain k3 (TRL's default). */
  klEstimator: withDefault(KlEstimator, "unbiased"),
  /**
   * Off-policy sequence masking threshold δ (V3.2 §3.1 eq. 8; TRL `off_policy_mask_threshold`). A sequence's policy
   * term is masked iff its advantage < 0 and mean_t log(π_sampling/π_θ) > δ. null: off. Default 0.5 (TRL docs).
   */
  offPolicyMaskThreshold: withDefault(Schema.NullOr(NonNegative), 0.5),
  /** Loss aggregation (TRL `loss_type`; V3.2 §3.1 is "grpo": per-sequence token mean, then mean over sequences). */
  lossType: withDefault(LossType, "grpo"),
  /** "token" (GRPO) or "sequence" (GSPO) importance ratio in the surrogate (TRL `importance_sampling_level`). */
  importanceSamplingLevel: withDefault(Schema.Literals(["token", "sequence"]), "token"),
  /** Completion length budget; the "drGrpo" normaliser (TRL `max_completion_length`, default 256). */
  maxCompletionLength: withDefault(PositiveInt, 256),
} as const

/** The whole trainer configuration. */
export const GrpoConfigSchema = Schema.Struct({
  ...GrpoLossConfigFields,
  /** Samples per prompt G (TRL `num_generations`, default 8). */
  numGenerations: withDefault(PositiveInt, 8),
  /** Prompts per rollout batch; the batch holds promptsPerStep × numGenerations completions. */
  promptsPerStep: withDefault(PositiveInt, 4),
  /** Optimiser updates per rollout batch, each on one minibatch (TRL `steps_per_generation`); π_θ drifts from π_old. */
  stepsPerGeneration: withDefault(PositiveInt, 2),
  /** Passes over the rollout batch (TRL `num_iterations`, μ, default 1). */
  numIterations: withDefault(PositiveInt, 1),
  /** Advantage scaling: "none" is V3.2 (Â = R − mean, no std division); TRL defaults to "group". */
  scaleRewards: withDefault(ScaleRewards, "none"),
  /** Drop groups whose rewards are all equal (DAPO dynamic sampling; OpenRLHF `dynamic_filtering`). */
  dropZeroStdGroups: withDefault(Schema.Boolean, false),
  /** Exclude truncated completions from the loss (TRL `mask_truncated_completions`, DAPO). */
  maskTruncatedCompletions: withDefault(Schema.Boolean, false),
  /** Keep Routing: the training forward replays the experts recorded at sampling (V3.2 §3.1, docs/grpo.md §6). */
  keepRouting: withDefault(Schema.Boolean, true),
  /** Keep Sampling Mask: renormalise π_θ over the recorded top-p/top-k kept set (V3.2 §3.1, docs/grpo.md §7). */
  keepSamplingMask: withDefault(Schema.Boolean, true),
  /** Also renormalise π_ref over the kept set (V3.2 does not say; default off). */
  samplingMaskOnReference: withDefault(Schema.Boolean, false),
  /** Sampling temperature (TRL `temperature`, default 1.0). */
  temperature: withDefault(Positive, 1),
  /** Nucleus sampling mass (TRL `top_p`, default 1.0; V3.2 samples with top-p). */
  topP: withDefault(Probability, 1),
  /** Top-k truncation; 0 = off (TRL `top_k`, default 0). */
  topK: withDefault(NonNegativeInt, 0),
  /** AdamW learning rate (TRL `learning_rate`, default 1e-6; tiny models need far more). */
  learningRate: withDefault(Positive, 1e-6),
  /** AdamW weight decay (TRL/transformers `weight_decay`, default 0). */
  weightDecay: withDefault(NonNegative, 0),
  /** Global gradient-norm clip (transformers `max_grad_norm`, default 1.0). */
  maxGradNorm: withDefault(Positive, 1),
  /** Rollout batches to train on (TRL `max_steps`). */
  maxSteps: withDefault(PositiveInt, 100),
  /** Checkpoint every this many steps (TRL `save_steps`). */
  saveSteps: withDefault(PositiveInt, 10),
  /** Weights of the reward functions, in order (TRL `reward_weights`); unset: all 1. */
  rewardWeights: Schema.optionalKey(Schema.Array(Schema.Finite)),
  /** Seed of every random choice (prompt order, sampling). */
  seed: withDefault(NonNegativeInt, 0),
})

export type GrpoConfig = typeof GrpoConfigSchema.Type
export type GrpoConfigInput = typeof GrpoConfigSchema.Encoded

/** The loss options as `grpoLoss` reads them. */
export type GrpoLossConfig = Pick<GrpoConfig, keyof typeof GrpoLossConfigFields>

/** Validates a GRPO config object (defaults filled in); throws `ConfigError` naming the first bad field. */
export const decodeGrpoConfig = (input: unknown): GrpoConfig => {
  return decodeConfigSync(GrpoConfigSchema, input ?? {})
}

/** The resolved upper clip range: `epsilonHigh` when set, else `epsilon`. */
export const upperClip = (config: Pick<GrpoConfig, "epsilon" | "epsilonHigh">): number =>
  config.epsilonHigh ?? config.epsilon
