/**
 * A long-context retrieval task for DeepSeek Sparse Attention (docs/attention.md §12): the answer is one token far
 * back in a long context, so a model is only right when its attention reaches that token.
 *
 *   prompt      = BOS  c_0 c_1 … c_{C−1}  "?"          C = contextLength − 2 (BOS + C + "?" = contextLength tokens)
 *   c_i         = a lowercase letter drawn uniformly, except c_n = the needle, an uppercase letter, at n < C / 2
 *   completion  = the needle                           (one token: the loss and the accuracy cover only it)
 *
 * So the batch rows are `contextLength` tokens long and the needle lies at least C / 2 tokens behind the query.
 * With top-k selection over `index_topk` ≪ C keys the query sees the needle only if the indexer picks it: a random
 * indexer picks it about k / C of the time, a trained one always. Examples of step s come from
 * rng.fork("data").fork(s) (a pure function of the step, so a resumed run sees the same batches); validation
 * examples from rng.fork("validation"), disjoint in practice (26 · 26^(C−1) · C / 2 possible prompts).
 */
import { InputError, type Rng } from "@ds/core"
import type { SupervisedTask } from "../programs/train-program.ts"
import { specialTokens } from "../tokenizer/special-tokens.ts"
import type { TextTokenizer } from "../tokenizer/tokenizer.ts"
import type { SupervisedExample } from "./batches.ts"
import type { ExampleSource } from "./data.ts"

const lower = "abcdefghijklmnopqrstuvwxyz"
const upper = lower.toUpperCase()

export interface NeedleTaskOptions {
  /** Prompt length in tokens (BOS, the context, "?") of the validation examples, and the longest training one. */
  readonly contextLength: number
  /**
   * Shortest training prompt: each training STEP's prompt length is drawn uniformly in [min, contextLength] (one
   * length per step, so its rows need no padding and a short step is a cheap one), so the model first finds the
   * needle where it is easy to find (short contexts) and then everywhere (content matching does not depend on
   * length). Default: contextLength (every example full length).
   */
  readonly minContextLength?: number
}

/** One example drawn from `rng`. */
export const needleExample = (tokenizer: TextTokenizer, contextLength: number, rng: Rng): SupervisedExample => {
  const context = contextLength - 2
  const letters = Array.from({ length: context }, () => lower[rng.int(0, lower.length)] as string)
  const needle = upper[rng.int(0, upper.length)] as string
  letters[rng.int(0, Math.max(1, Math.floor(context / 2)))] = needle
  return {
    prompt: tokenizer.encode(`${specialTokens.bos}${letters.join("")}?`),
    completion: tokenizer.encode(needle),
  }
}

/** The examples of the task (see the file comment). */
export const needleSource = (tokenizer: TextTokenizer, options: NeedleTaskOptions, rng: Rng): ExampleSource => {
  if (!Number.isInteger(options.contextLength) || options.contextLength < 8)
    throw new InputError({
      source: "needle task",
      reason: `contextLength must be an integer >= 8, got ${options.contextLength}`,
    })
  const longest = options.contextLength
  const shortest = Math.min(longest, Math.max(8, options.minContextLength ?? longest))
  return {
    batch: (step, count) => {
      const r = rng.fork("data").fork(step)
      const length = r.int(shortest, longest + 1)
      return Array.from({ length: count }, () => needleExample(tokenizer, length, r))
    },
    validation: (count) => {
      const r = rng.fork("validation")
      return Array.from({ length: count }, () => needleExample(tokenizer, longest, r))
    },
  }
}

/** The task as `ds train` data (`--data needle`): named by its lengths, scored by answer accuracy. */
export const needleTask = (options: NeedleTaskOptions): SupervisedTask => {
  const shortest = options.minContextLength ?? options.contextLength
  return {
    name: shortest === options.contextLength ? `needle-${shortest}` : `needle-${shortest}-${options.contextLength}`,
    source: (tokenizer, rng) => needleSource(tokenizer, options, rng),
    sequenceLength: options.contextLength + 1,
    evaluation: "answer_accuracy",
  }
}
