/**
 * The file `ds grpo --config FILE` reads (JSON). Everything but `checkpoint` has a default.
 *
 *   {
 *     "checkpoint": "runs/demo/sft/checkpoint",          starting policy: config.json + model.safetensors + tokenizer.json
 *     "runDir": "runs/grpo",                              metrics, plots, rollouts, checkpoint
 *     "task": {"type": "addition", "digits": 2, "evalPrompts": 64}
 *          or {"type": "jsonl", "train": "train.jsonl", "eval": "heldout.jsonl", "template": "chat",
 *              "rewards": [{"type": "numeric_answer", "weight": 1}, {"type": "format", "pattern": "^\\d+$", "weight": 0.1},
 *                          {"type": "length_penalty", "maxLength": 256, "buffer": 64, "weight": 1}]},
 *     "grpo": { ...GrpoConfig (config.ts): numGenerations, beta, epsilon, offPolicyMaskThreshold, ... },
 *     "evalSteps": 10, "evalSamples": 4
 *   }
 *
 * A JSONL prompt line is OpenAI chat format with task data under `metadata`:
 *   {"messages": [{"role": "user", "content": "What is 2+3?"}], "metadata": {"answer": 5}}
 * "template": "chat" encodes the messages with DeepSeek-V3.2's chat template; "raw" feeds BOS + the last user
 * message's text.
 */
import { decodeConfigSync, withDefault } from "@ds/core"
import { Schema } from "effect"
import { GrpoConfigSchema } from "../config.ts"

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

export const RewardSpecSchema = Schema.Union([
  Schema.Struct({
    type: Schema.Literal("numeric_answer"),
    weight: withDefault(Schema.Finite, 1),
    answerKey: withDefault(Schema.String, "answer"),
  }),
  Schema.Struct({ type: Schema.Literal("format"), weight: withDefault(Schema.Finite, 1), pattern: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("length_penalty"),
    weight: withDefault(Schema.Finite, 1),
    maxLength: PositiveInt,
    buffer: withDefault(Schema.Int, 0),
  }),
])
export type RewardSpec = typeof RewardSpecSchema.Type

export const TaskSpecSchema = Schema.Union([
  Schema.Struct({
    type: Schema.Literal("addition"),
    digits: withDefault(PositiveInt, 2),
    evalPrompts: withDefault(PositiveInt, 64),
  }),
  Schema.Struct({
    type: Schema.Literal("jsonl"),
    train: Schema.String,
    eval: Schema.optionalKey(Schema.String),
    template: withDefault(Schema.Literals(["raw", "chat"]), "raw"),
    rewards: Schema.Array(RewardSpecSchema),
  }),
])
export type TaskSpec = typeof TaskSpecSchema.Type

export const GrpoRunFileSchema = Schema.Struct({
  checkpoint: Schema.String,
  runDir: withDefault(Schema.String, "runs/grpo"),
  task: withDefault(TaskSpecSchema, { type: "addition" }),
  grpo: withDefault(GrpoConfigSchema, {}),
  evalSteps: Schema.optionalKey(PositiveInt),
  evalSamples: withDefault(PositiveInt, 4),
})
export type GrpoRunFile = typeof GrpoRunFileSchema.Type

/** Validates a run file's parsed JSON; throws `ConfigError` naming the first bad field. */
export const decodeGrpoRunFile = (input: unknown): GrpoRunFile => {
  return decodeConfigSync(GrpoRunFileSchema, input)
}
