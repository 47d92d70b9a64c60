/**
 * Autoregressive generation with the KV cache (docs/attention.md §5, §8; docs/model.md §6; reference `generate.py`), extended to
 * batches of prompts of different lengths:
 *
 *   prefill:  the prompts, right-padded to the longest, in one forward (validLengths = prompt lengths)
 *   decode:   one token per unfinished sequence per step, each at its own position (finished rows are padding)
 *   stop:     a stop token (e.g. EOS), a stop sequence of ids, a caller's rule, `maxNewTokens`, or the cache capacity
 *
 * For every sampled token the result records the chosen token's log-probability under the processed distribution
 * and the kept-token set (sampler.ts; Keep Sampling Mask, docs/grpo.md §7) and, per MoE layer, the experts each position was
 * routed to (Keep Routing, docs/grpo.md §6), laid out as a training forward over prompt + completion expects them. The last
 * sampled token is never fed back, so its routing slots are −1.
 */
import type { Rng } from "@ds/core"
import { InputError } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import type { AttentionPath } from "./attention-path.ts"
import { type SampledToken, type SamplingOptions, sampleRows } from "./sampler.ts"
import { createModelCache, disposeForward, disposeModelCache, forward, type Model } from "./transformer.ts"

export interface GenerateOptions {
  readonly maxNewTokens: number
  readonly sampling: SamplingOptions
  /** Finishing tokens (included in the output). */
  readonly stopTokens?: ReadonlyArray<number>
  /** Finishing id sequences (included in the output). */
  readonly stopSequences?: ReadonlyArray<ReadonlyArray<number>>
  /** Extra stop rule checked after each sampled token (e.g. a stop string in the decoded text). */
  readonly stopWhen?: (sequence: number, tokens: ReadonlyArray<number>) => boolean
  /** Source of the sampling draws (one uniform per unfinished sequence per step). */
  readonly rng: Rng
  /** Record the experts of every position (Keep Routing). Default false. */
  readonly recordRouting?: boolean
  /** Attention path of every step (attention-path.ts): "auto" (default: the process default), "fused", "reference". */
  readonly attention?: AttentionPath
  /** Called after each step with the newly sampled token of each sequence that produced one. */
  readonly onToken?: (event: { readonly sequence: number; readonly token: number; readonly index: number }) => void
}

export type FinishReason = "stop" | "length"

export interface Generation {
  readonly prompt: ReadonlyArray<number>
  /** Sampled tokens (a stop token or sequence included). */
  readonly tokens: Array<number>
  /** log q(token) of each sampled token under the processed distribution. */
  readonly logProbs: Array<number>
  /** The kept-token set of each step (ascending ids); null where nothing was cut (the whole vocabulary). */
  readonly kept: Array<Int32Array | null>
  readonly finishReason: FinishReason
  /** Per MoE layer: expert ids for positions 0 .. prompt + tokens − 1, K per position, −1 where unknown. */
  readonly routing?: Array<Int32Array>
}

const endsWith = (tokens: ReadonlyArray<number>, tail: ReadonlyArray<number>): boolean =>
  tail.length > 0 && tokens.length >= tail.length && tail.every((t, i) => tokens[tokens.length - tail.length + i] === t)

interface Row {
  prompt: ReadonlyArray<number>
  tokens: Array<number>
  logProbs: Array<number>
  kept: Array<Int32Array | null>
  finishReason: FinishReason | undefined
  routing: Array<Array<number>>
}

/** Copies the routing rows of sequence b (positions [from, from + count) of a [B, T] chunk) into `row`. */
const recordRouting = (
  row: Row,
  routing: ReadonlyArray<Int32Array>,
  b: number,
  width: number,
  count: number,
  k: number,
): void => {
  routing.forEach((ids, layer) => {
    const target = row.routing[layer] as Array<number>
    for (let i = 0; i < count * k; i++) target.push(ids[b * width * k + i] as number)
  })
}

const checkPrompts = (model: Model, prompts: ReadonlyArray<ReadonlyArray<number>>, maxNewTokens: number): number => {
  if (prompts.length === 0) throw new InputError({ source: "prompts", reason: "expected at least one prompt" })
  const longest = Math.max(...prompts.map((p) => p.length))
  if (prompts.some((p) => p.length === 0))
    throw new InputError({ source: "prompts", reason: "every prompt needs at least one token" })
  for (const p of prompts)
    for (const id of p)
      if (!Number.isInteger(id) || id < 0 || id >= model.config.vocab_size)
        throw new InputError({
          source: "prompts",
          reason: `token id ${id} is outside the vocabulary [0, ${model.config.vocab_size})`,
        })
  if (longest >= model.config.max_seq_len)
    throw new InputError({
      source: "prompts",
      reason: `a prompt of ${longest} tokens leaves no room under max_seq_len ${model.config.max_seq_len}`,
    })
  return Math.min(model.config.max_seq_len, longest + maxNewTokens)
}

/** Samples continuations of `prompts` (token ids). Synchronous; runs one forward per step. */
export const generate = (
  model: Model,
  prompts: ReadonlyArray<ReadonlyArray<number>>,
  options: GenerateOptions,
): Array<Generation> => {
  const capacity = checkPrompts(model, prompts, options.maxNewTokens)
  const k = model.config.n_activated_experts
  const moeLayers = model.config.n_layers - model.config.n_dense_layers
  const batch = prompts.length
  const rows: Array<Row> = prompts.map((prompt) => ({
    prompt,
    tokens: [],
    logProbs: [],
    kept: [],
    finishReason: undefined,
    routing: Array.from({ length: moeLayers }, () => []),
  }))
  const cache = createModelCache(model.config, batch, capacity)
  try {
    const width = Math.max(...prompts.map((p) => p.length))
    const padded = Int32Array.from(
      { length: batch * width },
      (_, i) => prompts[Math.floor(i / width)]?.[i % width] ?? 0,
    )
    let lengths = prompts.map((p) => p.length)
    let input = tf.tensor2d(padded, [batch, width], "int32")
    let chunk = width
    let startPos: ReadonlyArray<number> = Array(batch).fill(0)
    for (;;) {
      const result = forward(model, input, {
        cache,
        startPos,
        validLengths: lengths,
        ...(options.attention === undefined ? {} : { attention: options.attention }),
      })
      input.dispose()
      rows.forEach((row, b) => {
        if (options.recordRouting === true && (lengths[b] as number) > 0)
          recordRouting(row, result.routing, b, chunk, lengths[b] as number, k)
      })
      const uniforms = options.rng.uniform(batch)
      const samples: Array<SampledToken> = sampleRows(result.logits as tf.Tensor2D, options.sampling, uniforms)
      disposeForward(result)
      const next = new Int32Array(batch)
      rows.forEach((row, b) => {
        if (row.finishReason !== undefined) return
        const s = samples[b] as SampledToken
        row.tokens.push(s.token)
        row.logProbs.push(s.logProb)
        row.kept.push(s.kept)
        next[b] = s.token
        options.onToken?.({ sequence: b, token: s.token, index: row.tokens.length - 1 })
        const total = row.prompt.length + row.tokens.length
        if (
          options.stopTokens?.includes(s.token) === true ||
          options.stopSequences?.some((seq) => endsWith(row.tokens, seq)) === true ||
          options.stopWhen?.(b, row.tokens) === true
        )
          row.finishReason = "stop"
        else if (row.tokens.length >= options.maxNewTokens || total >= capacity) row.finishReason = "length"
      })
      if (rows.every((r) => r.finishReason !== undefined)) break
      startPos = rows.map((r) => r.prompt.length + r.tokens.length - 1)
      lengths = rows.map((r) => (r.finishReason === undefined ? 1 : 0))
      // Finished rows are padding: their startPos stays within what they hold.
      startPos = startPos.map((s, b) => (lengths[b] === 0 ? Math.min(s, cache.layers[0]?.lengths[b] ?? s) : s))
      input = tf.tensor2d(next, [batch, 1], "int32")
      chunk = 1
    }
  } finally {
    disposeModelCache(cache)
  }
  return rows.map((row) => ({
    prompt: row.prompt,
    tokens: row.tokens,
    logProbs: row.logProbs,
    kept: row.kept,
    finishReason: row.finishReason ?? "length",
    ...(options.recordRouting === true
      ? {
          routing: row.routing.map((ids) =>
            Int32Array.from({ length: (row.prompt.length + row.tokens.length) * k }, (_, i) => ids[i] ?? -1),
          ),
        }
      : {}),
  }))
}
