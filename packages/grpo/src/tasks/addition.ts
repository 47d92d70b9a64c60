/**
 * The built-in verifiable task: multi-digit addition, with everything a task has in one place: the data generator
 * (SFT examples and GRPO prompts), the reward, and the held-out splits (docs/model.md, SFT; docs/grpo.md §1).
 *
 *   prompt      BOS "740+583="           a = 47, b = 385 for digits = 3: each operand zero-padded to `digits`
 *   completion  "2340" EOS               the sum 432, zero-padded to digits + 1
 *   rewards     exact_answer   1 iff the completion (special tokens dropped) IS "2340" and ended with EOS   (w 1)
 *               format         1 iff the completion is exactly digits + 1 digits                         (w 0.1)
 *
 * Every number is written least-significant digit first (little-endian). Answer digit i then depends on a_i, b_i
 * and the carry from digit i − 1, which sit at the same relative offsets (2·digits + 1 and digits back) from every
 * answer position, so relative-position attention (RoPE) finds them with one head each (Lee et al., "Teaching
 * Arithmetic to Small Transformers", 2023, for reversed outputs). Tokens are bytes (byteTokenizer).
 *
 * Splits are by UNORDERED pair: {a, b} is "test" iff h(min, max) mod 10 = 0, "validation" iff it is 1, else
 * "train"; so when (a, b) is held out, (b, a) is too, and training (by addition's symmetry) cannot recall a held-out
 * answer from the swapped pair. The test split gives the reported accuracies, the validation split the numbers that
 * choose anything (SFT early stopping), so those choices never see the test prompts.
 */
import { Rng } from "@ds/core"
import { type ExampleSource, type SupervisedTask, specialTokens, type TextTokenizer } from "@ds/model"
import { formatReward } from "../rewards/format.ts"
import type { RewardFunction } from "../rewards/reward-function.ts"
import type { TaskPrompt } from "../rollout/rollouts.ts"
import type { GrpoTask } from "./task.ts"

export interface AdditionExample {
  readonly a: number
  readonly b: number
  readonly prompt: string
  /** The sum, little-endian, without EOS. */
  readonly answer: string
}

export type AdditionSplit = "train" | "validation" | "test"

/** MurmurHash3's 32-bit finaliser: every input bit affects every output bit (so no parity leaks into the split). */
const mix32 = (h0: number): number => {
  let h = h0 >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** Hash of the unordered pair {a, b}. */
const pairHash = (a: number, b: number): number =>
  mix32(mix32(Math.min(a, b)) ^ Math.imul(Math.max(a, b) + 1, 0x9e3779b1))

/** The split of the unordered pair {a, b} (see the file comment). */
export const additionSplit = (a: number, b: number): AdditionSplit => {
  const bucket = pairHash(a, b) % 10
  return bucket === 0 ? "test" : bucket === 1 ? "validation" : "train"
}

/** `value` zero-padded to `width` digits, least-significant digit first. */
export const littleEndian = (value: number, width: number): string =>
  String(value).padStart(width, "0").split("").reverse().join("")

export const additionExample = (a: number, b: number, digits: number): AdditionExample => ({
  a,
  b,
  prompt: `${littleEndian(a, digits)}+${littleEndian(b, digits)}=`,
  answer: littleEndian(a + b, digits + 1),
})

/** A training operand: each digit is 0 with probability ½, else uniform in 0..9. */
const sparseOperand = (rng: Rng, digits: number): number => {
  let value = 0
  for (let i = 0; i < digits; i++) value = value * 10 + (rng.float() < 0.5 ? 0 : rng.int(0, 10))
  return value
}

/**
 * One example of `split`, drawn with `rng`.
 *
 * - "train": half the examples with uniform operands, half with digit-sparse ones (each digit 0 with probability ½).
 *   Where one operand's digit is 0 the answer digit is a copy of the other's, a signal gradient descent picks up at
 *   once; it trains the attention to the two operand digits that the digit-sum table then needs (with uniform
 *   digits the table has no first-order signal and small models sit on a long plateau).
 * - "validation", "test": operands uniform in [0, 10^digits), restricted to the split's pairs.
 */
export const sampleAddition = (rng: Rng, digits: number, split: AdditionSplit): AdditionExample => {
  const limit = 10 ** digits
  for (;;) {
    const sparse = split === "train" && rng.float() < 0.5
    const a = sparse ? sparseOperand(rng, digits) : rng.int(0, limit)
    const b = sparse ? sparseOperand(rng, digits) : rng.int(0, limit)
    if (additionSplit(a, b) === split) return additionExample(a, b, digits)
  }
}

/** Token ids: prompt = BOS + prompt bytes; completion = answer bytes + EOS. */
export const encodeAddition = (
  tokenizer: TextTokenizer,
  example: AdditionExample,
): { prompt: Array<number>; completion: Array<number> } => ({
  prompt: tokenizer.encode(`${specialTokens.bos}${example.prompt}`),
  completion: tokenizer.encode(`${example.answer}${specialTokens.eos}`),
})

/** Longest prompt + completion of the task in tokens (BOS, operands, '+', '=', sum digits, EOS). */
export const additionSequenceLength = (digits: number): number => 1 + digits + 1 + digits + 1 + (digits + 1) + 1

/** The SFT data: step s draws training pairs from rng.fork("data").fork(s); validation pairs for evaluations. */
export const additionSupervisedTask = (digits: number): SupervisedTask => ({
  name: `addition-${digits}`,
  sequenceLength: additionSequenceLength(digits),
  evaluation: "exact_match",
  source: (tokenizer, rng): ExampleSource => ({
    batch: (step, count) => {
      const r = rng.fork("data").fork(step)
      return Array.from({ length: count }, () => encodeAddition(tokenizer, sampleAddition(r, digits, "train")))
    },
    validation: (count) => {
      const r = rng.fork("validation")
      return Array.from({ length: count }, () => encodeAddition(tokenizer, sampleAddition(r, digits, "validation")))
    },
  }),
})

/**
 * 1 iff the completion is exactly the reference answer `metadata.target` and ended with a stop token (not
 * truncated): "2340" for 47 + 385; "2340x", "234" or "23400" score 0. "skip" without a target.
 */
export const exactAnswerReward = (): RewardFunction => ({
  name: "exact_answer",
  score: (sample) => {
    const target = sample.metadata.target
    if (typeof target !== "string") return "skip"
    return !sample.truncated && sample.completion === target ? 1 : 0
  },
})

export const additionPrompt = (tokenizer: TextTokenizer, example: AdditionExample): TaskPrompt => ({
  id: `${example.a}+${example.b}`,
  text: example.prompt,
  tokens: encodeAddition(tokenizer, example).prompt,
  metadata: { answer: example.a + example.b, target: example.answer },
})

export interface AdditionTaskOptions {
  readonly digits: number
  /** Test prompts (the held-out evaluation). */
  readonly evalPrompts: number
  /** Validation prompts (early stopping, model selection). Default `evalPrompts`. */
  readonly validationPrompts?: number
  /** Seed of the held-out draws. */
  readonly seed: number
  /** Weight of the format reward. Default 0.1. */
  readonly formatWeight?: number
}

export interface AdditionTask extends GrpoTask {
  readonly rewardWeights: ReadonlyArray<number>
  /** Prompts of the validation split (disjoint from the training and test pairs). */
  readonly validationPrompts: ReadonlyArray<TaskPrompt>
  /** The same task as SFT data (`trainProgram`'s `data`). */
  readonly supervised: SupervisedTask
}

/** The addition task for GRPO, its validation prompts, and its SFT data. */
export const additionTask = (tokenizer: TextTokenizer, options: AdditionTaskOptions): AdditionTask => {
  const heldOut = Rng.make(options.seed)
  const draw = (split: AdditionSplit, count: number) => {
    const rng = heldOut.fork(`addition-${split}`)
    return Array.from({ length: count }, () => additionPrompt(tokenizer, sampleAddition(rng, options.digits, split)))
  }
  const eos = tokenizer.eosId
  return {
    name: `addition-${options.digits}`,
    trainPrompts: (rng, count) =>
      Array.from({ length: count }, () => additionPrompt(tokenizer, sampleAddition(rng, options.digits, "train"))),
    evalPrompts: draw("test", options.evalPrompts),
    validationPrompts: draw("validation", options.validationPrompts ?? options.evalPrompts),
    rewards: [
      exactAnswerReward(),
      formatReward({ pattern: new RegExp(`^\\d{${options.digits + 1}}$`), name: "format" }),
    ],
    rewardWeights: [1, options.formatWeight ?? 0.1],
    accuracyReward: "exact_answer",
    stopTokens: eos === undefined ? [] : [eos],
    supervised: additionSupervisedTask(options.digits),
  }
}
