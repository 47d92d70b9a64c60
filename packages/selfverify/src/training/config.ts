/**
 * The training driver's configuration (`ds selfverify train --config FILE`, docs/selfverify.md §10), decoded with
 * @ds/core `decodeConfig`: defaults filled in, unknown keys rejected, a bad field reported as `ConfigError` naming
 * it (`verifier.steps`). Every default is the `ds selfverify demo --quick` preset, sized so that a tiny model learns
 * the one-operation arithmetic domain on 2 CPU cores in minutes; the paper publishes none of these sizes.
 */
import { decodeConfig, withDefault } from "@ds/core"
import { Schema } from "effect"

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Positive = Schema.Finite.check(Schema.isGreaterThan(0))
const UnitInterval = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(1))

/** One GRPO stage (a role). `steps: 0` skips the stage. */
const GrpoStage = (steps: number, maxCompletionLength: number, promptsPerStep = 4, numGenerations = 8) =>
  Schema.Struct({
    steps: withDefault(NonNegativeInt, steps),
    /** Prompts per rollout batch and completions per prompt (the group; the addition demo uses 16 × 8). */
    promptsPerStep: withDefault(PositiveInt, promptsPerStep),
    numGenerations: withDefault(PositiveInt, numGenerations),
    /** 1e-3: the addition demo's GRPO rate for the same tiny preset (apps/cli recipes). */
    learningRate: withDefault(Positive, 1e-3),
    /** Longest sampled answer in tokens (the domain tokenizer writes a verdict in ~15). */
    maxCompletionLength: withDefault(PositiveInt, maxCompletionLength),
    saveSteps: withDefault(PositiveInt, 10),
  })

export const PipelineConfigSchema = Schema.Struct({
  /** Run folder: one sub-folder per iteration and stage. */
  out: withDefault(Schema.String, "runs/selfverify-train"),
  seed: withDefault(Schema.Int, 0),
  /** Train → (verify → meta → enhanced → generate → RFT) rounds; round 2 on starts from the RFT model (§5). */
  iterations: withDefault(PositiveInt, 1),
  /** The proof domain (docs/selfverify.md §6). One operation per problem keeps every record short. */
  problems: withDefault(
    Schema.Struct({
      minOps: withDefault(PositiveInt, 1),
      maxOps: withDefault(PositiveInt, 1),
      maxLeaf: withDefault(PositiveInt, 9),
      maxValue: withDefault(PositiveInt, 20),
    }),
    {},
  ),
  /** The fresh model: @ds/model's preset, its context, and the domain tokenizer's vocabulary (tokenizer.ts). */
  model: withDefault(
    Schema.Struct({
      preset: withDefault(Schema.Literals(["tiny", "small"]), "tiny"),
      maxSeqLen: withDefault(PositiveInt, 128),
      vocabSize: withDefault(PositiveInt, 1024),
    }),
    {},
  ),
  /** Cold-start SFT of the three roles on the oracle's data (data.ts). 3e-3 is @ds/model's `ds train` default. */
  coldStart: withDefault(
    Schema.Struct({
      perRole: withDefault(PositiveInt, 400),
      steps: withDefault(PositiveInt, 150),
      batchSize: withDefault(PositiveInt, 16),
      learningRate: withDefault(Positive, 3e-3),
      saveEvery: withDefault(PositiveInt, 50),
    }),
    {},
  ),
  verifier: withDefault(GrpoStage(12, 24), {}),
  meta: withDefault(GrpoStage(8, 24), {}),
  /** The enhanced verifier (reward · ms of the current meta-verifier); off by default. */
  enhanced: withDefault(GrpoStage(0, 24), {}),
  generator: withDefault(
    Schema.Struct({
      ...GrpoStage(8, 48, 4, 4).fields,
      /** "model": the current verifier and meta-verifier score the proofs (the paper); "oracle": the exact grade. */
      judge: withDefault(Schema.Literals(["model", "oracle"]), "model"),
      /** α, β of R = α·R_Y + β·R_Z (the paper's 0.76 / 0.24, docs/selfverify.md §4). */
      alpha: withDefault(UnitInterval, 0.76),
      beta: withDefault(UnitInterval, 0.24),
    }),
    {},
  ),
  /** Rejection fine-tuning: the full-reward samples of every stage into one SFT set (rft.ts). `steps: 0` skips. */
  rft: withDefault(
    Schema.Struct({
      steps: withDefault(NonNegativeInt, 20),
      batchSize: withDefault(PositiveInt, 16),
      learningRate: withDefault(Positive, 1e-3),
      threshold: withDefault(UnitInterval, 1),
      /** Fresh cold-start examples mixed in per kept sample, so RFT does not forget the roles GRPO left alone. */
      replay: withDefault(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)), 1),
    }),
    {},
  ),
  /** Held-out measurement (measure.ts): prompts per role. */
  eval: withDefault(Schema.Struct({ prompts: withDefault(PositiveInt, 32) }), {}),
  /** Scaled-verification labelling of held-out proofs with the final model (docs/selfverify.md §7.1). */
  autolabel: withDefault(
    Schema.Struct({
      proofs: withDefault(NonNegativeInt, 4),
      n: withDefault(PositiveInt, 4),
      m: withDefault(PositiveInt, 2),
      k: withDefault(PositiveInt, 2),
      /** Sampling temperature of the n analyses (0.6: LocalModel's default, DeepSeek's demo). */
      temperature: withDefault(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)), 0.6),
    }),
    {},
  ),
})

export type PipelineConfig = typeof PipelineConfigSchema.Type
export type PipelineConfigInput = typeof PipelineConfigSchema.Encoded

/** Decodes a training config (a parsed JSON value); fails with `ConfigError` naming the first bad field. */
export const decodePipelineConfig = (input: unknown) => decodeConfig(PipelineConfigSchema, input ?? {})
