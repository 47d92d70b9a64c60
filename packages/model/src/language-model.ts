/**
 * The local model as an `effect/ai` `LanguageModel` (ARCHITECTURE.md: every package above @ds/model talks to
 * models through this service, so a local checkpoint and a remote API plug in interchangeably).
 *
 *   effect/ai Prompt  ->  OpenAI-style messages  ->  DeepSeek-V3.2 chat template (tokenizer/chat-template.ts)
 *   sampled text      ->  parseCompletion        ->  reasoning / text / tool-call parts + finish (usage)
 *
 * Tools offered in a request are rendered into the system prompt in DeepSeek's DSML format; tool calls the model
 * writes are parsed back into `tool-call` parts. A completion that does not parse (an undertrained model) is
 * returned as plain text. Generation is synchronous tensor work; requests are served one at a time, and a stream
 * delivers its parts when the completion is done.
 */
import { Rng } from "@ds/core"
import { Context, Effect, Layer, Semaphore, Stream } from "effect"
import { AiError, LanguageModel, type Prompt, type Response, Tool } from "effect/ai"
import type { AttentionPath } from "./attention-path.ts"
import { acquireCheckpoint, type CheckpointLoadError } from "./checkpoint.ts"
import { type FinishReason, generate } from "./generate.ts"
import { stringify, textOfParts, toolCallsOfParts, toolResultMessages } from "./providers/openai-compat.ts"
import {
  type ChatMessage,
  encodeChat,
  parseCompletion,
  type ThinkingMode,
  type ToolDefinition,
} from "./tokenizer/chat-template.ts"
import { byteTokenizer, streamingDecoder, type TextTokenizer } from "./tokenizer/tokenizer.ts"
import type { Model } from "./transformer.ts"

export interface LocalModelOptions {
  /** Default 512. */
  readonly maxNewTokens?: number
  /** Default 0.6 (DeepSeek demo); 0 = greedy. */
  readonly temperature?: number
  readonly topK?: number
  readonly topP?: number
  /** Thinking mode of the chat template. Default false. */
  readonly thinking?: boolean
  /** Seed of the sampling stream (each request draws from a fresh fork). Default 0. */
  readonly seed?: number
  /** Attention path of generation (attention-path.ts). Default: the process default ("auto"). */
  readonly attention?: AttentionPath
}

/** A loaded model with its tokenizer, as a service (scoped: parameters are freed with the layer). */
export class LocalModel extends Context.Service<
  LocalModel,
  { readonly model: Model; readonly tokenizer: TextTokenizer }
>()("@ds/model/LocalModel") {
  /** Loads `checkpoint`; the byte tokenizer is used when the folder has no tokenizer.json. */
  static readonly layer = (checkpoint: string): Layer.Layer<LocalModel, CheckpointLoadError> =>
    Layer.effect(
      LocalModel,
      Effect.map(acquireCheckpoint(checkpoint), (c) => ({
        model: { config: c.config, params: c.params },
        tokenizer: c.tokenizer ?? byteTokenizer(),
      })),
    )
}

/** effect/ai Prompt -> OpenAI-style messages for the chat template; `tools` go into the system message. */
export const toChatMessages = (prompt: Prompt.Prompt, tools: ReadonlyArray<ToolDefinition>): Array<ChatMessage> => {
  const out: Array<ChatMessage> = []
  for (const message of prompt.content) {
    switch (message.role) {
      case "system":
        out.push({ role: "system", content: message.content })
        break
      case "user":
        out.push({ role: "user", content: textOfParts(message.content) })
        break
      case "assistant": {
        const calls = toolCallsOfParts(message.content)
        const reasoning = message.content
          .filter((p): p is Prompt.ReasoningPart => p.type === "reasoning")
          .map((p) => p.text)
          .join("")
        out.push({
          role: "assistant",
          content: textOfParts(message.content),
          ...(reasoning === "" ? {} : { reasoning_content: reasoning }),
          ...(calls.length === 0 ? {} : { tool_calls: calls }),
        })
        break
      }
      case "tool":
        out.push(...toolResultMessages(message.content))
        break
    }
  }
  if (tools.length === 0) return out
  const first = out[0]
  if (first?.role === "system") out[0] = { ...first, tools }
  else out.unshift({ role: "system", content: "", tools })
  return out
}

const toolDefinitions = (tools: ReadonlyArray<Tool.Any>): Array<ToolDefinition> =>
  tools.map((tool) => ({
    type: "function",
    function: {
      name: tool.name,
      ...(Tool.getDescription(tool) === undefined ? {} : { description: Tool.getDescription(tool) as string }),
      parameters: Tool.getJsonSchema(tool),
    },
  }))

interface Completion {
  readonly text: string
  readonly finishReason: FinishReason
  readonly promptTokens: number
  readonly completionTokens: number
}

const providerError = (method: string, error: unknown) =>
  AiError.make({
    module: "@ds/model/LocalLanguageModel",
    method,
    reason: new AiError.InternalProviderError({ description: error instanceof Error ? error.message : String(error) }),
  })

/** Parts of a finished completion: reasoning, text, tool calls, finish. */
const responseParts = (
  completion: Completion,
  mode: ThinkingMode,
  nextId: () => string,
): Array<Response.PartEncoded> => {
  let parsed: ChatMessage
  try {
    parsed = parseCompletion(
      completion.text.endsWith("<｜end▁of▁sentence｜>") ? completion.text : `${completion.text}<｜end▁of▁sentence｜>`,
      mode,
    )
  } catch {
    parsed = { role: "assistant", content: completion.text }
  }
  const parts: Array<Response.PartEncoded> = []
  if (parsed.reasoning_content) parts.push({ type: "reasoning", text: parsed.reasoning_content })
  if (parsed.content) parts.push({ type: "text", text: parsed.content })
  for (const call of parsed.tool_calls ?? [])
    parts.push({
      type: "tool-call",
      id: nextId(),
      name: call.function.name,
      params: JSON.parse(stringify(call.function.arguments)),
    })
  const toolCalls = (parsed.tool_calls?.length ?? 0) > 0
  parts.push({
    type: "finish",
    reason: toolCalls ? "tool-calls" : completion.finishReason,
    usage: {
      inputTokens: { total: completion.promptTokens, uncached: completion.promptTokens },
      outputTokens: { total: completion.completionTokens },
    },
  })
  return parts
}

/** Builds the LanguageModel service over a loaded local model. */
export const makeLocalLanguageModel = (
  local: { readonly model: Model; readonly tokenizer: TextTokenizer },
  options: LocalModelOptions = {},
) =>
  Effect.gen(function* () {
    const lock = yield* Semaphore.make(1)
    const mode: ThinkingMode = options.thinking === true ? "thinking" : "chat"
    const root = Rng.make(options.seed ?? 0)
    let requests = 0
    let ids = 0
    const nextId = () => `call_${++ids}`
    const complete = (providerOptions: LanguageModel.ProviderOptions, onText?: (delta: string) => void): Completion => {
      const messages = toChatMessages(providerOptions.prompt, toolDefinitions(providerOptions.tools))
      const prompt = local.tokenizer.encode(encodeChat(messages, { thinking: mode }))
      const decode = streamingDecoder(local.tokenizer)
      let text = ""
      const [generation] = generate(local.model, [prompt], {
        maxNewTokens: options.maxNewTokens ?? 512,
        sampling: {
          temperature: options.temperature ?? 0.6,
          ...(options.topK === undefined ? {} : { topK: options.topK }),
          ...(options.topP === undefined ? {} : { topP: options.topP }),
        },
        ...(local.tokenizer.eosId === undefined ? {} : { stopTokens: [local.tokenizer.eosId] }),
        rng: root.fork(requests++),
        ...(options.attention === undefined ? {} : { attention: options.attention }),
        onToken: ({ token }) => {
          const delta = decode(token)
          text += delta
          if (delta !== "") onText?.(delta)
        },
      })
      return {
        text,
        finishReason: generation?.finishReason ?? "length",
        promptTokens: prompt.length,
        completionTokens: generation?.tokens.length ?? 0,
      }
    }
    return yield* LanguageModel.make({
      generateText: (providerOptions) =>
        lock.withPermits(1)(
          Effect.try({
            try: () => responseParts(complete(providerOptions), mode, nextId),
            catch: (e) => providerError("generateText", e),
          }),
        ),
      streamText: (providerOptions) =>
        Stream.fromIterableEffect(
          lock.withPermits(1)(
            Effect.try({
              try: () => {
                const id = nextId()
                const parts: Array<Response.StreamPartEncoded> = [{ type: "text-start", id }]
                const completion = complete(providerOptions, (delta) => parts.push({ type: "text-delta", id, delta }))
                parts.push({ type: "text-end", id })
                for (const part of responseParts(completion, mode, nextId))
                  if (part.type === "tool-call" || part.type === "finish") parts.push(part)
                return parts
              },
              catch: (e) => providerError("streamText", e),
            }),
          ),
        ),
    })
  })

/** `LanguageModel` from a local checkpoint folder (loads it; frees it when the layer's scope closes). */
export const localLanguageModelLayer = (
  checkpoint: string,
  options: LocalModelOptions = {},
): Layer.Layer<LanguageModel.LanguageModel, CheckpointLoadError> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function* () {
      return yield* makeLocalLanguageModel(yield* LocalModel, options)
    }),
  ).pipe(Layer.provide(LocalModel.layer(checkpoint)))
