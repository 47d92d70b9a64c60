/**
 * `ds generate`: prompt -> text from a local checkpoint, streaming the text as it is sampled.
 *
 * The prompt is wrapped as one user turn in the DeepSeek-V3.2 chat template (`template: "chat"`, the default) or
 * encoded as is after BOS (`template: "raw"`). Sampling stops at EOS, at a stop string, or after `maxNewTokens`.
 * Defaults follow DeepSeek's demo (`generate.py`): temperature 0.6, 200 new tokens.
 */
import { type CheckpointError, type ConfigError, InputError, Rng, type SafetensorsError } from "@ds/core"
import { Effect } from "effect"
import type { AttentionPath } from "../attention-path.ts"
import { acquireCheckpoint } from "../checkpoint.ts"
import { type FinishReason, generate } from "../generate.ts"
import { type ChatMessage, encodeChat } from "../tokenizer/chat-template.ts"
import { specialTokens } from "../tokenizer/special-tokens.ts"
import { streamingDecoder, type TextTokenizer } from "../tokenizer/tokenizer.ts"
import type { Model } from "../transformer.ts"

export interface GenerateProgramOptions {
  /** Checkpoint folder (config.json, model.safetensors, tokenizer.json). */
  readonly checkpoint: string
  /** The prompt text (one user turn with the chat template, or raw text). */
  readonly prompt: string
  /** "chat" (default) or "raw". */
  readonly template?: "chat" | "raw"
  /** Open a thinking block after the prompt (chat template only). Default false. */
  readonly thinking?: boolean
  /** Default 200 (DeepSeek demo). */
  readonly maxNewTokens?: number
  /** Default 0.6 (DeepSeek demo); 0 = greedy. */
  readonly temperature?: number
  readonly topK?: number
  readonly topP?: number
  /** Stop when the text contains any of these (the stop string is cut from the result). */
  readonly stop?: ReadonlyArray<string>
  /** Default 0. */
  readonly seed?: number
  /** Attention path (attention-path.ts). Default: the process default ("auto"). */
  readonly attention?: AttentionPath
  /** Called with each new piece of text as it is generated. */
  readonly onText?: (delta: string) => void
}

export interface GenerateProgramResult {
  readonly text: string
  readonly finishReason: FinishReason
  readonly promptTokens: number
  readonly completionTokens: number
}

/** The token ids of the prompt as the options ask. */
export const encodePrompt = (
  tokenizer: TextTokenizer,
  prompt: string,
  template: "chat" | "raw",
  thinking: boolean,
): Array<number> => {
  if (template === "raw") return tokenizer.encode(`${specialTokens.bos}${prompt}`)
  const messages: Array<ChatMessage> = [{ role: "user", content: prompt }]
  return tokenizer.encode(encodeChat(messages, { thinking: thinking ? "thinking" : "chat" }))
}

const cutAtStop = (text: string, stop: ReadonlyArray<string>): { text: string; stopped: boolean } => {
  let cut = -1
  for (const s of stop) {
    const at = text.indexOf(s)
    if (at >= 0 && (cut < 0 || at < cut)) cut = at
  }
  return cut < 0 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true }
}

/** Samples a completion for one prompt from a loaded model (synchronous). */
export const generateText = (
  model: Model,
  tokenizer: TextTokenizer,
  options: Omit<GenerateProgramOptions, "checkpoint">,
): GenerateProgramResult => {
  const prompt = encodePrompt(tokenizer, options.prompt, options.template ?? "chat", options.thinking === true)
  const stop = options.stop ?? []
  const decode = streamingDecoder(tokenizer)
  let text = ""
  let emitted = 0
  const [generation] = generate(model, [prompt], {
    maxNewTokens: options.maxNewTokens ?? 200,
    sampling: {
      temperature: options.temperature ?? 0.6,
      ...(options.topK === undefined ? {} : { topK: options.topK }),
      ...(options.topP === undefined ? {} : { topP: options.topP }),
    },
    ...(tokenizer.eosId === undefined ? {} : { stopTokens: [tokenizer.eosId] }),
    rng: Rng.make(options.seed ?? 0).fork("generate"),
    ...(options.attention === undefined ? {} : { attention: options.attention }),
    stopWhen: (_, tokens) => {
      text += decode(tokens[tokens.length - 1] as number)
      const { text: visible, stopped } = cutAtStop(text, stop)
      // Hold back a tail that could still become a stop string.
      const holdBack = stopped ? 0 : Math.max(0, ...stop.map((s) => s.length - 1))
      const safe = Math.max(emitted, visible.length - holdBack)
      if (safe > emitted) options.onText?.(visible.slice(emitted, safe))
      emitted = safe
      return stopped
    },
  })
  const { text: final, stopped } = cutAtStop(text, stop)
  if (final.length > emitted) options.onText?.(final.slice(emitted))
  return {
    text: final,
    finishReason: stopped ? "stop" : (generation?.finishReason ?? "length"),
    promptTokens: prompt.length,
    completionTokens: generation?.tokens.length ?? 0,
  }
}

/**
 * `ds generate --checkpoint DIR "prompt"`: loads the checkpoint, generates, streams text through `onText`. The
 * parameters are scoped: freed on success, failure and interruption alike.
 */
export const generateProgram = (
  options: GenerateProgramOptions,
): Effect.Effect<GenerateProgramResult, InputError | CheckpointError | ConfigError | SafetensorsError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { config, params, tokenizer } = yield* acquireCheckpoint(options.checkpoint)
      if (tokenizer === undefined)
        return yield* Effect.fail(
          new InputError({
            source: options.checkpoint,
            reason: "the checkpoint has no tokenizer.json; save one with the model (ds train writes it)",
          }),
        )
      return yield* Effect.try({
        try: () => generateText({ config, params }, tokenizer, options),
        catch: (e) => (e instanceof InputError ? e : new InputError({ source: "generate", reason: String(e) })),
      })
    }),
  )
