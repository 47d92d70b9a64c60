/**
 * A GRPO task from JSONL prompt files (OpenAI chat format, task data under `metadata`), with reward functions
 * named in the run file (run-file.ts):
 *
 *   {"messages": [{"role": "user", "content": "What is 2+3?"}], "metadata": {"answer": 5}}
 *
 * Training prompts are drawn uniformly (with replacement) from the train file with the step's generator; the
 * evaluation prompts are the whole eval file (none when it is not given).
 */
import type { Rng } from "@ds/core"
import { InputError, readJsonl } from "@ds/core"
import { ChatMessage, encodeChat, specialTokens, type TextTokenizer } from "@ds/model"
import { Effect, Schema } from "effect"
import type { RewardSpec } from "../program/run-file.ts"
import { formatReward } from "../rewards/format.ts"
import { lengthPenaltyReward } from "../rewards/length-penalty.ts"
import { numericAnswerReward } from "../rewards/numeric-answer.ts"
import type { RewardFunction } from "../rewards/reward-function.ts"
import type { TaskPrompt } from "../rollout/rollouts.ts"
import type { GrpoTask } from "./task.ts"

export const PromptLineSchema = Schema.Struct({
  messages: Schema.Array(ChatMessage),
  metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
})
export type PromptLine = typeof PromptLineSchema.Type

const lastUserText = (line: PromptLine): string =>
  [...line.messages].reverse().find((m) => m.role === "user")?.content ?? ""

/** The prompt of one line: raw (BOS + last user text) or through DeepSeek-V3.2's chat template. */
export const promptFromLine = (
  tokenizer: TextTokenizer,
  line: PromptLine,
  template: "raw" | "chat",
  id: string,
): TaskPrompt => {
  const text = template === "chat" ? encodeChat(line.messages) : `${specialTokens.bos}${lastUserText(line)}`
  return { id, text: lastUserText(line), tokens: tokenizer.encode(text), metadata: line.metadata ?? {} }
}

const rewardFromSpec = (spec: RewardSpec): RewardFunction => {
  switch (spec.type) {
    case "numeric_answer":
      return numericAnswerReward({ answerKey: spec.answerKey })
    case "format":
      return formatReward({ pattern: new RegExp(spec.pattern) })
    case "length_penalty":
      return lengthPenaltyReward({ maxLength: spec.maxLength, buffer: spec.buffer })
  }
}

/** The reward functions a run file names, and their weights. */
export const rewardsFromSpecs = (
  specs: ReadonlyArray<RewardSpec>,
): { functions: Array<RewardFunction>; weights: Array<number> } => ({
  functions: specs.map(rewardFromSpec),
  weights: specs.map((spec) => spec.weight),
})

export interface JsonlTaskOptions {
  readonly train: string
  readonly eval?: string
  readonly template: "raw" | "chat"
  readonly rewards: ReadonlyArray<RewardSpec>
}

export const jsonlTask = (tokenizer: TextTokenizer, options: JsonlTaskOptions) =>
  Effect.gen(function* () {
    const train = yield* readJsonl(options.train, PromptLineSchema)
    if (train.length === 0) return yield* Effect.fail(new InputError({ source: options.train, reason: "no prompts" }))
    const evalLines = options.eval === undefined ? [] : yield* readJsonl(options.eval, PromptLineSchema)
    const { functions, weights } = rewardsFromSpecs(options.rewards)
    const eos = tokenizer.eosId
    const task: GrpoTask = {
      name: `jsonl:${options.train}`,
      trainPrompts: (rng: Rng, count: number) =>
        Array.from({ length: count }, () => {
          const index = rng.int(0, train.length)
          return promptFromLine(tokenizer, train[index] as PromptLine, options.template, `train-${index}`)
        }),
      evalPrompts: evalLines.map((line, i) => promptFromLine(tokenizer, line, options.template, `eval-${i}`)),
      rewards: functions,
      stopTokens: eos === undefined ? [] : [eos],
    }
    return { task, weights }
  })
