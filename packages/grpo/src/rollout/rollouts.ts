/**
 * Rollouts: G samples per prompt from the current policy through `@ds/model`'s sampler (docs/grpo.md §1,
 * "rollout"), each saved with what the update needs to replay its sampling conditions: the engine's per-token
 * log-probs (π_old), the kept-token sets (Keep Sampling Mask) and the experts of every position (Keep Routing).
 *
 * All P·G sequences run as one batch (prompt-major: the G samples of prompt p are rows p·G .. p·G + G − 1, the
 * group layout `computeAdvantages` expects). Routing comes from `generate` as, per MoE layer, [(P + C)·K] ids for
 * positions 0 .. P + C − 1; the last position (the final sampled token, never fed back) is dropped, leaving the
 * P + C − 1 positions a training forward over prompt ++ completion[0 .. C − 2] routes.
 */
import type { Rng } from "@ds/core"
import { type Generation, generate, type Model, type SamplingOptions, type TextTokenizer } from "@ds/model"
import type { RolloutRecord } from "./record.ts"

/** One prompt of a task. */
export interface TaskPrompt {
  /** Stable id (e.g. the example's key); groups are named after it. */
  readonly id: string
  /** The prompt as text (for records and reward functions). */
  readonly text: string
  /** The prompt as token ids fed to the model. */
  readonly tokens: ReadonlyArray<number>
  /** Task data for the rewards, e.g. `{ answer: 42 }`. */
  readonly metadata: Readonly<Record<string, unknown>>
}

export interface RolloutOptions {
  readonly numGenerations: number
  readonly maxNewTokens: number
  readonly sampling: SamplingOptions
  readonly stopTokens: ReadonlyArray<number>
  /** Record the experts of every position (Keep Routing). */
  readonly recordRouting: boolean
  /** Record the kept-token sets (Keep Sampling Mask). */
  readonly recordKeptTokens: boolean
  /** Prefix of the record ids, e.g. the trainer step. */
  readonly idPrefix: string
  readonly rng: Rng
}

/** Per-position, per-layer expert ids [P + C − 1][layers][K] from generate's per-layer [(P + C)·K] layout. */
export const routingByPosition = (
  routing: ReadonlyArray<Int32Array>,
  positions: number,
  k: number,
): Array<Array<Array<number>>> =>
  Array.from({ length: positions }, (_, p) => routing.map((ids) => Array.from(ids.subarray(p * k, p * k + k))))

const toRecord = (
  generation: Generation,
  prompt: TaskPrompt,
  sample: number,
  tokenizer: TextTokenizer,
  k: number,
  options: RolloutOptions,
): RolloutRecord => {
  const completion = generation.tokens
  const positions = prompt.tokens.length + completion.length - 1
  return {
    id: `${options.idPrefix}/${prompt.id}/${sample}`,
    groupId: `${options.idPrefix}/${prompt.id}`,
    messages: [
      { role: "user", content: prompt.text },
      { role: "assistant", content: tokenizer.decode(completion, { skipSpecialTokens: true }) },
    ],
    promptTokens: [...prompt.tokens],
    completionTokens: [...completion],
    samplingLogps: [...generation.logProbs],
    keptTokens: options.recordKeptTokens ? generation.kept.map((set) => (set === null ? null : Array.from(set))) : null,
    routedExperts:
      options.recordRouting && generation.routing !== undefined
        ? routingByPosition(generation.routing, positions, k)
        : null,
    truncated: generation.finishReason === "length",
    metadata: { ...prompt.metadata },
  }
}

/**
 * What samples a rollout batch: `numGenerations` records per prompt, prompt-major. `sampleRollouts` is the
 * single-turn one; a task may bring its own (a multi-turn tool environment, docs/agentdata.md §13).
 */
export type RolloutSampler = (
  model: Model,
  tokenizer: TextTokenizer,
  prompts: ReadonlyArray<TaskPrompt>,
  options: RolloutOptions,
) => Array<RolloutRecord>

/** Samples `numGenerations` completions of every prompt (one batched `generate` call). Synchronous. */
export const sampleRollouts = (
  model: Model,
  tokenizer: TextTokenizer,
  prompts: ReadonlyArray<TaskPrompt>,
  options: RolloutOptions,
): Array<RolloutRecord> => {
  const g = options.numGenerations
  const batch = prompts.flatMap((p) => Array.from({ length: g }, () => p.tokens))
  const generations = generate(model, batch, {
    maxNewTokens: options.maxNewTokens,
    sampling: options.sampling,
    stopTokens: options.stopTokens,
    rng: options.rng,
    recordRouting: options.recordRouting,
  })
  const k = model.config.n_activated_experts
  return generations.map((generation, i) =>
    toRecord(generation, prompts[Math.floor(i / g)] as TaskPrompt, i % g, tokenizer, k, options),
  )
}
