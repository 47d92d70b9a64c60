/**
 * Multi-turn rollouts (docs/agentdata.md §13): the policy and an environment take turns, and the whole exchange is
 * one GRPO sample.
 *
 *   x_0 = prompt tokens
 *   turn k:  a_k ~ π(· | x_{k})             until a stop token or the per-turn budget  (trained: mask 1)
 *            (done, o_k) = env.step(decode(a_k))                                        (not trained: mask 0)
 *            x_{k+1} = x_k ++ a_k ++ encode(o_k)
 *   completion = a_1 ++ o_1 ++ a_2 ++ o_2 ++ … ++ a_K      lossMask = 1 on every a_k token, 0 on every o_k token
 *   reward     = env.reward()   (stored in the record's metadata as `reward`, with `turns` and `ended`)
 *
 * The P·G episodes of a batch advance together: each turn one batched `generate` over the still-open episodes
 * (ragged prompts), re-prefilled from their transcripts. Observation tokens get sampling log-prob 0 and a full
 * kept set (they are masked out of the loss, so neither is read). Routing is not recorded: the observations were
 * never routed by the sampler. Limits: `maxTurns` assistant turns, `maxNewTokens` (the trainer's
 * `maxCompletionLength`) per turn, `maxTotalTokens` of completion in all, and the model's max_seq_len. A turn cut
 * by its budget still goes to the environment (which decides: a tool call cut short does not parse); an episode
 * the environment did not end is `truncated` and gets the reward its environment gives at that point.
 */
import { generate, type Model, type TextTokenizer } from "@ds/model"
import type { RolloutRecord } from "./record.ts"
import type { RolloutOptions, RolloutSampler, TaskPrompt } from "./rollouts.ts"

/** One episode's environment: parses each turn, acts, and answers with the text appended after it. */
export interface TurnEnvironment {
  readonly step: (completion: string) => { readonly done: boolean; readonly observation: string }
  /** The episode's reward (read once it has ended). */
  readonly reward: () => number
  readonly close: () => void
}

export interface MultiTurnOptions {
  /** A fresh environment for one sample of a prompt (every sample gets its own). */
  readonly open: (prompt: TaskPrompt) => TurnEnvironment
  /** Assistant turns per episode. */
  readonly maxTurns: number
  /** Completion tokens (policy and observation) per episode. */
  readonly maxTotalTokens: number
}

interface Episode {
  readonly prompt: TaskPrompt
  readonly env: TurnEnvironment
  readonly tokens: Array<number>
  readonly mask: Array<0 | 1>
  readonly logps: Array<number>
  turns: number
  ended: "done" | "max-turns" | "max-tokens" | undefined
}

const room = (model: Model, options: MultiTurnOptions, e: Episode): number =>
  Math.min(
    options.maxTotalTokens - e.tokens.length,
    model.config.max_seq_len - 1 - e.prompt.tokens.length - e.tokens.length,
  )

const append = (e: Episode, tokens: ReadonlyArray<number>, mask: 0 | 1, logps?: ReadonlyArray<number>) => {
  tokens.forEach((token, i) => {
    e.tokens.push(token)
    e.mask.push(mask)
    e.logps.push(logps?.[i] ?? 0)
  })
}

/** One batched turn of the open episodes. */
const turn = (
  model: Model,
  tokenizer: TextTokenizer,
  open: ReadonlyArray<Episode>,
  rollout: RolloutOptions,
  options: MultiTurnOptions,
  index: number,
) => {
  const budget = Math.min(rollout.maxNewTokens, ...open.map((e) => room(model, options, e)))
  const generations = generate(
    model,
    open.map((e) => [...e.prompt.tokens, ...e.tokens]),
    {
      maxNewTokens: budget,
      sampling: rollout.sampling,
      stopTokens: rollout.stopTokens,
      rng: rollout.rng.fork(`turn-${index}`),
    },
  )
  open.forEach((e, b) => {
    const generation = generations[b]
    if (generation === undefined) return
    append(e, generation.tokens, 1, generation.logProbs)
    e.turns++
    const step = e.env.step(tokenizer.decode(generation.tokens))
    if (step.done) {
      // The observation of a closing step (e.g. the submit call's result) is never fed back: it is not part of the
      // sample.
      e.ended = "done"
      return
    }
    const observation = tokenizer.encode(step.observation).slice(0, Math.max(0, room(model, options, e)))
    append(e, observation, 0)
    if (e.turns >= options.maxTurns) e.ended = "max-turns"
    else if (room(model, options, e) <= 0) e.ended = "max-tokens"
  })
}

const toRecord = (e: Episode, sample: number, tokenizer: TextTokenizer, idPrefix: string): RolloutRecord => ({
  id: `${idPrefix}/${e.prompt.id}/${sample}`,
  groupId: `${idPrefix}/${e.prompt.id}`,
  messages: [
    { role: "user", content: e.prompt.text },
    { role: "assistant", content: tokenizer.decode(e.tokens) },
  ],
  promptTokens: [...e.prompt.tokens],
  completionTokens: e.tokens,
  samplingLogps: e.logps,
  keptTokens: null,
  routedExperts: null,
  truncated: e.ended !== "done",
  lossMask: e.mask,
  metadata: { ...e.prompt.metadata, reward: e.env.reward(), turns: e.turns, ended: e.ended ?? "done" },
})

/** A `RolloutSampler` that plays `numGenerations` episodes per prompt against `options.open`'s environments. */
export const multiTurnRollouts =
  (options: MultiTurnOptions): RolloutSampler =>
  (model, tokenizer, prompts, rollout) => {
    const g = rollout.numGenerations
    const episodes: Array<Episode> = []
    try {
      for (const prompt of prompts)
        for (let i = 0; i < g; i++)
          episodes.push({
            prompt,
            env: options.open(prompt),
            tokens: [],
            mask: [],
            logps: [],
            turns: 0,
            ended: undefined,
          })
      for (let index = 0; index < options.maxTurns; index++) {
        for (const e of episodes) if (e.ended === undefined && room(model, options, e) <= 0) e.ended = "max-tokens"
        const open = episodes.filter((e) => e.ended === undefined)
        if (open.length === 0) break
        turn(model, tokenizer, open, rollout, options, index)
      }
      return episodes.map((e, i) => toRecord(e, i % g, tokenizer, rollout.idPrefix))
    } finally {
      for (const e of episodes) e.env.close()
    }
  }

/** The reward a multi-turn rollout stored in the record (0 when absent): use as the task's reward function. */
export const episodeReward = {
  name: "episode",
  score: (sample: { readonly metadata: Readonly<Record<string, unknown>> }) =>
    typeof sample.metadata.reward === "number" ? sample.metadata.reward : 0,
} as const
