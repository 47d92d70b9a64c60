/**
 * `POST /v1/chat/completions` and `POST /v1/completions` (docs/server.md §1): a checked request becomes n sequences
 * in the engine; their tokens become one JSON response, or SSE chunks (`data: {...}\n\n` … `data: [DONE]\n\n`).
 * A client that goes away interrupts the request fiber, whose finalizer cancels the sequences, which frees their
 * batch slots at the next step.
 */
import { randomBytes } from "node:crypto"
import { Rng } from "@ds/core"
import { type ChatMessage, encodeChat, LocalModel, type TextTokenizer } from "@ds/model"
import { Cause, Clock, Effect, Queue, Stream } from "effect"
import { Engine, type SequenceEvent, type SequenceHandle } from "./engine.ts"
import { type ApiError, invalidRequest, notFound } from "./errors.ts"
import {
  type LogprobEntry,
  logprobEntry,
  makeDecoder,
  type OutputOptions,
  parseToolBlock,
  splitText,
  toolBlockStart,
} from "./output.ts"
import type { ChatRequest, CompletionRequest, SamplingRequest } from "./protocol.ts"
import { ServerConfig } from "./server-config.ts"

type FinishReason = "stop" | "length" | "tool_calls"

interface Delta {
  readonly reasoning: string
  readonly content: string
  readonly logprobs: Array<LogprobEntry>
}

/** One choice's text, as tokens arrive. */
class ChoiceState {
  readonly decoder
  sentReasoning = 0
  sentContent = 0
  tokens = 0
  stopped = false
  finishReason: FinishReason | undefined
  readonly logprobs: Array<LogprobEntry> = []
  toolCalls: ReadonlyArray<{ readonly name: string; readonly arguments: string }> = []

  constructor(
    readonly tokenizer: TextTokenizer,
    readonly options: OutputOptions,
  ) {
    this.decoder = makeDecoder(tokenizer)
  }

  private delta(final: boolean, logprobs: Array<LogprobEntry>): Delta {
    const visible = splitText(this.decoder.text(), this.options, final)
    if (visible.stopped) this.stopped = true
    let content = visible.content
    if (final && visible.toolText !== undefined) {
      const parsed = this.options.tools ? parseToolBlock(content, visible.toolText) : undefined
      if (parsed === undefined) content = content + visible.toolText
      else {
        content = parsed.content
        this.toolCalls = parsed.calls
      }
    }
    const reasoning = visible.reasoning.slice(this.sentReasoning)
    const contentDelta = content.slice(this.sentContent)
    this.sentReasoning = Math.max(this.sentReasoning, visible.reasoning.length)
    this.sentContent = Math.max(this.sentContent, content.length)
    return { reasoning, content: contentDelta, logprobs }
  }

  onToken(event: Extract<SequenceEvent, { _tag: "Token" }>): Delta {
    this.tokens += 1
    this.decoder.push(event.token)
    const entries: Array<LogprobEntry> = []
    if (event.logprob !== undefined) {
      const entry = logprobEntry(this.tokenizer, event.token, event.logprob, event.top ?? [])
      entries.push(entry)
      this.logprobs.push(entry)
    }
    return this.delta(false, entries)
  }

  finish(reason: "stop" | "length"): Delta {
    const delta = this.delta(true, [])
    this.finishReason = this.toolCalls.length > 0 ? "tool_calls" : this.stopped ? "stop" : reason
    return delta
  }

  /** The whole answer text (content + reasoning), after `finish`. */
  text(): { reasoning: string; content: string } {
    const visible = splitText(this.decoder.text(), this.options, true)
    const content =
      visible.toolText !== undefined && this.toolCalls.length === 0
        ? visible.content + visible.toolText
        : visible.content
    const parsed =
      this.toolCalls.length > 0 && visible.toolText !== undefined
        ? parseToolBlock(visible.content, visible.toolText)
        : undefined
    return { reasoning: visible.reasoning, content: parsed?.content ?? content }
  }
}

/** Runs one choice: forwards each token's delta to `onDelta`; cancels the sequence at a stop string. */
const runChoice = (
  handle: SequenceHandle,
  state: ChoiceState,
  onDelta: (delta: Delta) => Effect.Effect<void>,
): Effect.Effect<void, ApiError> =>
  Effect.gen(function* () {
    for (;;) {
      const event = yield* Queue.take(handle.events).pipe(
        Effect.catchIf(Cause.isDone, () => Effect.succeed({ _tag: "Finish", reason: "stop" } as const)),
      )
      if (event._tag === "Finish") {
        yield* onDelta(state.finish(event.reason))
        return
      }
      const delta = state.onToken(event)
      yield* onDelta(delta)
      if (state.stopped) {
        yield* handle.cancel
        yield* onDelta(state.finish("stop"))
        return
      }
    }
  })

const hex = (bytes: number) => randomBytes(bytes).toString("hex")

interface Prepared {
  readonly prompts: ReadonlyArray<ReadonlyArray<number>>
  readonly options: OutputOptions
}

/** Submits n sequences per prompt (a full queue fails here, before any response starts). */
const submitAll = Effect.fnUntraced(function* (request: SamplingRequest, prepared: Prepared) {
  const engine = yield* Engine
  const { tokenizer } = yield* LocalModel
  const config = yield* ServerConfig
  const capacity = engine.model.config.max_seq_len
  const seed = request.seed ?? randomBytes(4).readUInt32BE(0)
  const requests = prepared.prompts.flatMap((prompt, p) => {
    const room = capacity - prompt.length
    const maxTokens = request.maxTokens ?? Math.min(config.defaultMaxTokens, room)
    return Array.from({ length: request.n }, (_, i) => ({
      prompt,
      maxTokens,
      sampling: {
        temperature: request.temperature,
        ...(request.topK > 0 ? { topK: request.topK } : {}),
        ...(request.topP < 1 ? { topP: Math.max(request.topP, Number.EPSILON) } : {}),
      },
      rng: Rng.make(seed).fork(p * request.n + i),
      stopTokens: tokenizer.eosId === undefined || request.ignoreEos ? [] : [tokenizer.eosId],
      ...(request.topLogprobs === undefined ? {} : { topLogprobs: request.topLogprobs }),
    }))
  })
  const handles = yield* engine.submit(requests)
  return {
    handles,
    states: handles.map(() => new ChoiceState(tokenizer, prepared.options)),
    /** Frees every slot: run when the answer is done or the client went away. */
    cancelAll: Effect.forEach(handles, (h) => h.cancel, { discard: true }),
  }
})

const checkModel = Effect.fnUntraced(function* (name: string) {
  const config = yield* ServerConfig
  if (name !== config.modelName)
    return yield* Effect.fail(
      notFound(
        `The model '${name}' does not exist; this server serves '${config.modelName}'.`,
        "model_not_found",
        "model",
      ),
    )
})

const checkLength = Effect.fnUntraced(function* (
  request: SamplingRequest,
  prompts: ReadonlyArray<ReadonlyArray<number>>,
  param: string,
) {
  const { model } = yield* LocalModel
  const capacity = model.config.max_seq_len
  for (const prompt of prompts) {
    const needed = prompt.length + (request.maxTokens ?? 1)
    if (prompt.length >= capacity || needed > capacity)
      return yield* Effect.fail(
        invalidRequest(
          `This model's maximum context length is ${capacity} tokens. However, you requested ${needed} tokens (${prompt.length} in the prompt, ${needed - prompt.length} for the completion). Please reduce the length of the prompt or max_tokens.`,
          param,
          "context_length_exceeded",
        ),
      )
    if (prompt.length === 0) return yield* Effect.fail(invalidRequest("The prompt is empty.", param))
  }
})

const prepareChat = Effect.fnUntraced(function* (request: ChatRequest) {
  const { tokenizer } = yield* LocalModel
  const offerTools = request.tools.length > 0 && request.toolChoice !== "none"
  let messages: Array<ChatMessage> = request.messages
  if (offerTools) {
    const system = messages.findIndex((m) => m.role === "system")
    messages =
      system >= 0
        ? messages.map((m, i) => (i === system ? { ...m, tools: request.tools } : m))
        : [{ role: "system", content: "", tools: request.tools }, ...messages]
  }
  const text = yield* Effect.try({
    try: () => encodeChat(messages, { thinking: request.thinking ? "thinking" : "chat" }),
    catch: (e) =>
      invalidRequest(`The messages do not form a valid conversation: ${String((e as Error).message ?? e)}`, "messages"),
  })
  const choice = request.toolChoice
  const opening = `${toolBlockStart}>\n<｜DSML｜invoke name="`
  const forced = choice === "required" ? opening : typeof choice === "object" ? `${opening}${choice.name}">\n` : ""
  const forcedPrefix = forced === "" ? "" : `${request.thinking ? "</think>" : ""}${forced}`
  const prompt = tokenizer.encode(text + forcedPrefix)
  yield* checkLength(request, [prompt], "messages")
  return {
    prompts: [prompt],
    options: { stop: request.stop, thinking: request.thinking, tools: offerTools, forcedPrefix },
  } satisfies Prepared
})

const usageOf = (promptTokens: number, states: ReadonlyArray<ChoiceState>) => {
  const completion = states.reduce((s, c) => s + c.tokens, 0)
  return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion }
}

const sseLine = (data: unknown): Uint8Array =>
  new TextEncoder().encode(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`)

const toolCallsJson = (state: ChoiceState, id: string) =>
  state.toolCalls.map((c, i) => ({
    id: `call_${id}_${i}`,
    type: "function",
    function: { name: c.name, arguments: c.arguments },
  }))

export interface Answer {
  /** JSON body, or an SSE byte stream. */
  readonly json?: unknown
  readonly stream?: Stream.Stream<Uint8Array, never>
}

/** Streams chunks built by `toChunk` from every choice's deltas, then usage (when asked) and [DONE]. */
const sseAnswer = (
  request: SamplingRequest,
  started: {
    readonly handles: Array<SequenceHandle>
    readonly states: Array<ChoiceState>
    readonly cancelAll: Effect.Effect<void>
  },
  promptTokens: number,
  toChunk: (index: number, state: ChoiceState, delta: Delta | "first" | "last") => unknown,
  base: Record<string, unknown>,
): Stream.Stream<Uint8Array, never> =>
  Stream.callback<Uint8Array>((out) =>
    Effect.gen(function* () {
      const { handles, states } = started
      const send = (data: unknown) => Effect.sync(() => void Queue.offerUnsafe(out, sseLine(data)))
      const usageNull = request.includeUsage ? { usage: null } : {}
      const wrap = (chunk: unknown) =>
        chunk === undefined ? Effect.void : send({ ...base, ...(chunk as object), ...usageNull })
      yield* Effect.forEach(states, (state, i) => wrap(toChunk(i, state, "first")), { discard: true })
      yield* Effect.forEach(
        handles,
        (handle, i) =>
          runChoice(handle, states[i] as ChoiceState, (delta) =>
            wrap(toChunk(i, states[i] as ChoiceState, delta)),
          ).pipe(Effect.andThen(() => wrap(toChunk(i, states[i] as ChoiceState, "last")))),
        { concurrency: "unbounded", discard: true },
      )
      if (request.includeUsage) yield* send({ ...base, choices: [], usage: usageOf(promptTokens, states) })
      yield* send("[DONE]")
      Queue.endUnsafe(out)
    }).pipe(
      Effect.catch((error: ApiError) =>
        Effect.sync(() => {
          Queue.offerUnsafe(out, sseLine(error.body))
          Queue.offerUnsafe(out, sseLine("[DONE]"))
          Queue.endUnsafe(out)
        }),
      ),
    ),
  ).pipe(Stream.ensuring(started.cancelAll))

/** Non-streaming answers: submits every choice, runs each to its end, frees the slots even on failure. */
const runToEnd = Effect.fnUntraced(function* (request: SamplingRequest, prepared: Prepared) {
  const { handles, states, cancelAll } = yield* submitAll(request, prepared)
  yield* Effect.forEach(handles, (h, i) => runChoice(h, states[i] as ChoiceState, () => Effect.void), {
    concurrency: "unbounded",
    discard: true,
  }).pipe(Effect.ensuring(cancelAll))
  return states
})

export const chatCompletion = Effect.fnUntraced(function* (request: ChatRequest) {
  yield* checkModel(request.model)
  const prepared = yield* prepareChat(request)
  const created = Math.floor((yield* Clock.currentTimeMillis) / 1000)
  const id = `chatcmpl-${hex(12)}`
  const promptTokens = prepared.prompts[0]?.length ?? 0
  if (request.stream) {
    const base = { id, object: "chat.completion.chunk", created, model: request.model, system_fingerprint: null }
    const stream = sseAnswer(
      request,
      yield* submitAll(request, prepared),
      promptTokens,
      (index, state, delta) => {
        if (delta === "first")
          return {
            choices: [{ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }],
          }
        if (delta === "last") {
          const calls = toolCallsJson(state, id)
          return {
            choices: [
              {
                index,
                delta: calls.length > 0 ? { tool_calls: calls.map((c, i) => ({ index: i, ...c })) } : {},
                logprobs: null,
                finish_reason: state.finishReason ?? "stop",
              },
            ],
          }
        }
        if (delta.content === "" && delta.reasoning === "" && delta.logprobs.length === 0) return undefined
        return {
          choices: [
            {
              index,
              delta: {
                ...(delta.reasoning === "" ? {} : { reasoning_content: delta.reasoning }),
                ...(delta.content === "" && delta.reasoning !== "" ? {} : { content: delta.content }),
              },
              logprobs: request.topLogprobs === undefined ? null : { content: delta.logprobs, refusal: null },
              finish_reason: null,
            },
          ],
        }
      },
      base,
    )
    return { stream } satisfies Answer
  }
  const states = yield* runToEnd(request, prepared)
  const choices = states.map((state, index) => {
    const text = state.text()
    const calls = toolCallsJson(state, id)
    return {
      index,
      message: {
        role: "assistant",
        content: calls.length > 0 && text.content === "" ? null : text.content,
        ...(request.thinking ? { reasoning_content: text.reasoning } : {}),
        ...(calls.length > 0 ? { tool_calls: calls } : {}),
        refusal: null,
      },
      logprobs: request.topLogprobs === undefined ? null : { content: state.logprobs, refusal: null },
      finish_reason: state.finishReason ?? "stop",
    }
  })
  return {
    json: {
      id,
      object: "chat.completion",
      created,
      model: request.model,
      system_fingerprint: null,
      choices,
      usage: usageOf(promptTokens, states),
    },
  } satisfies Answer
})

/** OpenAI completions `logprobs`: tokens, their log-probabilities, the top alternatives, text offsets. */
const completionLogprobs = (state: ChoiceState) => {
  let offset = 0
  const text_offset = state.logprobs.map((e) => {
    const at = offset
    offset += e.token.length
    return at
  })
  return {
    tokens: state.logprobs.map((e) => e.token),
    token_logprobs: state.logprobs.map((e) => e.logprob),
    top_logprobs: state.logprobs.map((e) => Object.fromEntries(e.top_logprobs.map((t) => [t.token, t.logprob]))),
    text_offset,
  }
}

export const textCompletion = Effect.fnUntraced(function* (request: CompletionRequest) {
  yield* checkModel(request.model)
  const { tokenizer } = yield* LocalModel
  const bos = tokenizer.bosId === undefined ? [] : [tokenizer.bosId]
  const prompts = request.prompts.map((p) => (typeof p === "string" ? [...bos, ...tokenizer.encode(p)] : p))
  for (const p of prompts)
    for (const t of p)
      if (t >= tokenizer.vocabSize)
        return yield* Effect.fail(
          invalidRequest(`Token id ${t} is outside the vocabulary of ${tokenizer.vocabSize}.`, "prompt"),
        )
  yield* checkLength(request, prompts, "prompt")
  const prepared: Prepared = {
    prompts,
    options: { stop: request.stop, thinking: false, tools: false, forcedPrefix: "" },
  }
  const created = Math.floor((yield* Clock.currentTimeMillis) / 1000)
  const id = `cmpl-${hex(12)}`
  const promptTokens = prompts.reduce((s, p) => s + p.length, 0)
  const base = { id, object: "text_completion", created, model: request.model, system_fingerprint: null }
  if (request.stream) {
    const stream = sseAnswer(
      request,
      yield* submitAll(request, prepared),
      promptTokens,
      (index, state, delta) => {
        if (delta === "first") return undefined
        if (delta === "last")
          return { choices: [{ index, text: "", logprobs: null, finish_reason: state.finishReason ?? "stop" }] }
        if (delta.content === "" && delta.logprobs.length === 0) return undefined
        return {
          choices: [
            {
              index,
              text: delta.content,
              logprobs:
                request.topLogprobs === undefined
                  ? null
                  : {
                      tokens: delta.logprobs.map((e) => e.token),
                      token_logprobs: delta.logprobs.map((e) => e.logprob),
                      top_logprobs: delta.logprobs.map((e) =>
                        Object.fromEntries(e.top_logprobs.map((t) => [t.token, t.logprob])),
                      ),
                      text_offset: delta.logprobs.map(() => 0),
                    },
              finish_reason: null,
            },
          ],
        }
      },
      base,
    )
    return { stream } satisfies Answer
  }
  const states = yield* runToEnd(request, prepared)
  return {
    json: {
      ...base,
      choices: states.map((state, index) => ({
        index,
        text: state.text().content,
        logprobs: request.topLogprobs === undefined ? null : completionLogprobs(state),
        finish_reason: state.finishReason ?? "stop",
      })),
      usage: usageOf(promptTokens, states),
    },
  } satisfies Answer
})
