/**
 * The built-in verifiable task: @ds/model's synthetic multi-digit addition (tasks/addition.ts), as a GRPO task.
 *
 *   prompt      BOS "047+385="          completion  "2340" EOS   (the sum, zero-padded, least-significant first)
 *   rewards     numeric_answer  1 if the completion, read back to front, equals a + b      (weight 1)
 *               format          1 if the completion is exactly digits + 1 digits          (weight 0.1)
 *
 * Training prompts come from the train split, evaluation prompts from the held-out split (a fixed tenth of all
 * pairs the SFT stage never sees), drawn with a fixed seed.
 */
import { Rng } from "@ds/core"
import { type AdditionExample, encodeAddition, sampleAddition, type TextTokenizer } from "@ds/model"
import { formatReward } from "../rewards/format.ts"
import { numericAnswerReward } from "../rewards/numeric-answer.ts"
import type { TaskPrompt } from "../rollout/rollouts.ts"
import type { GrpoTask } from "../trainer/task.ts"

/** The number a reversed-digit completion states ("2340" -> 432); null unless it starts with a digit. */
export const reversedDigitsAnswer = (completion: string): number | null => {
  const digits = /^\s*(\d+)/.exec(completion)?.[1]
  return digits === undefined ? null : Number(digits.split("").reverse().join(""))
}

export interface AdditionTaskOptions {
  readonly digits: number
  /** Held-out prompts for evaluation. */
  readonly evalPrompts: number
  /** Seed of the held-out draw. */
  readonly seed: number
  /** Weight of the format reward. Default 0.1. */
  readonly formatWeight?: number
}

export const additionPrompt = (tokenizer: TextTokenizer, example: AdditionExample): TaskPrompt => ({
  id: `${example.a}+${example.b}`,
  text: example.prompt,
  tokens: encodeAddition(tokenizer, example).prompt,
  metadata: { answer: example.a + example.b },
})

export const additionTask = (
  tokenizer: TextTokenizer,
  options: AdditionTaskOptions,
): GrpoTask & { readonly rewardWeights: ReadonlyArray<number> } => {
  const heldOut = Rng.make(options.seed).fork("addition-heldout")
  const eos = tokenizer.eosId
  return {
    name: `addition-${options.digits}`,
    trainPrompts: (rng, count) =>
      Array.from({ length: count }, () => additionPrompt(tokenizer, sampleAddition(rng, options.digits, "train"))),
    evalPrompts: Array.from({ length: options.evalPrompts }, () =>
      additionPrompt(tokenizer, sampleAddition(heldOut, options.digits, "heldout")),
    ),
    rewards: [
      numericAnswerReward({ extract: reversedDigitsAnswer }),
      formatReward({ pattern: new RegExp(`^\\d{${options.digits + 1}}$`), name: "format" }),
    ],
    rewardWeights: [1, options.formatWeight ?? 0.1],
    accuracyReward: "numeric_answer",
    stopTokens: eos === undefined ? [] : [eos],
  }
}
