/**
 * An `effect/ai` `LanguageModel` over any OpenAI-compatible chat-completions endpoint (DeepSeek's API with
 * `deepseek-reasoner`, vLLM or SGLang serving DeepSeekMath-V2, this project's own server), written over
 * `effect/http`'s `HttpClient` (docs/selfverify.md §8).
 *
 *   POST {baseUrl}/chat/completions   { model, messages, tools?, tool_choice?, temperature?, top_p?, max_tokens?,
 *                                       stream?, stream_options: { include_usage } }
 *   -> choices[0].message.{content, reasoning_content, tool_calls}, finish_reason, usage
 *   -> (stream) SSE `data: {choices: [{delta}]}` chunks, then `data: [DONE]`
 *
 * Why not `@effect/ai-openai-compat`: its only 4.x release (4.0.0-beta.98) imports `effect/unstable/encoding/Sse`,
 * a path effect 4.1 no longer has, so it fails to load; this provider is the small replacement.
 *
 * Requests run under a semaphore (`maxConcurrency`), each attempt under a timeout; 408/429/5xx responses, transport
 * errors and timeouts are retried `maxRetries` times with exponential backoff (base · 2^attempt, at least the
 * server's `Retry-After`), through `Effect.sleep` so `TestClock` drives it in tests. What finally fails is an
 * `AiError` whose description names the URL, the status, the server's message and the attempts made.
 */
import { Context, Data, Duration, Effect, Layer, Redacted, Semaphore, Stream } from "effect"
import { AiError, LanguageModel, type Prompt, type Response, Tool } from "effect/ai"
import { FetchHttpClient, HttpClient, HttpClientRequest, type HttpClientResponse } from "effect/http"

export interface OpenAiCompatOptions {
  /** Base URL up to and including the version, e.g. `https://api.deepseek.com/v1` or `http://127.0.0.1:8000/v1`. */
  readonly baseUrl: string
  /** Bearer key; omit for local servers without auth. */
  readonly apiKey?: Redacted.Redacted<string> | string | undefined
  /** The `model` field of each request, e.g. `deepseek-reasoner`. */
  readonly model: string
  /** Requests in flight at most. Default 8. */
  readonly maxConcurrency?: number
  /** Retries after the first attempt on 408/429/5xx, transport errors and timeouts. Default 4. */
  readonly maxRetries?: number
  /** First backoff delay; doubles each retry. Default 1 second. */
  readonly retryBaseDelay?: Duration.Input
  /** Limit of one attempt (a reasoning model can think for minutes). Default 10 minutes. */
  readonly timeout?: Duration.Input
  readonly temperature?: number
  readonly topP?: number
  readonly maxTokens?: number
  /** Extra fields merged into every request body (e.g. `{ top_k: 20 }` for vLLM, `{ seed: 1 }`). */
  readonly extraBody?: Readonly<Record<string, unknown>>
}

/** Per-call sampling overrides: `Effect.provideService(OpenAiCompatOverrides, { temperature: 0 })`. */
export const OpenAiCompatOverrides = Context.Reference<
  Partial<Pick<OpenAiCompatOptions, "temperature" | "topP" | "maxTokens" | "extraBody">>
>("@ds/model/OpenAiCompatOverrides", { defaultValue: () => ({}) })

/** An attempt that failed; `transient` ones are retried. */
class AttemptFailure extends Data.TaggedError("AttemptFailure")<{
  readonly status: number | undefined
  readonly message: string
  readonly transient: boolean
  readonly retryAfterMs: number | undefined
}> {}

const transientStatus = (status: number) => status === 408 || status === 429 || status >= 500

const retryAfterMs = (header: string | undefined): number | undefined => {
  if (header === undefined) return undefined
  const seconds = Number(header)
  return Number.isFinite(seconds) ? Math.max(0, seconds * 1000) : undefined
}

// --- Prompt -> OpenAI messages --------------------------------------------------------------------------------

/** A tool call's arguments or a tool's result as the wire's string (strings as they are, anything else as JSON). */
export const stringify = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value))

/** The text parts of a message, joined (other parts add nothing). Shared with `toChatMessages`. */
export const textOfParts = (parts: ReadonlyArray<Prompt.UserMessagePart | Prompt.AssistantMessagePart>): string =>
  parts.map((p) => (p.type === "text" ? p.text : "")).join("")

/** An assistant message's tool calls in OpenAI form. Shared with `toChatMessages`. */
export const toolCallsOfParts = (parts: ReadonlyArray<Prompt.AssistantMessagePart>) =>
  parts
    .filter((p): p is Prompt.ToolCallPart => p.type === "tool-call")
    .map((p) => ({ id: p.id, type: "function" as const, function: { name: p.name, arguments: stringify(p.params) } }))

/** One `role: "tool"` message per tool result among the parts. Shared with `toChatMessages`. */
export const toolResultMessages = (
  parts: ReadonlyArray<Prompt.AssistantMessagePart | Prompt.ToolMessagePart>,
): Array<{ role: "tool"; tool_call_id: string; content: string }> =>
  parts.flatMap((p) =>
    p.type === "tool-result" ? [{ role: "tool" as const, tool_call_id: p.id, content: stringify(p.result) }] : [],
  )

type WireMessage = Record<string, unknown>

/** effect/ai Prompt -> OpenAI chat messages (system/user/assistant with tool_calls/tool). */
export const toOpenAiMessages = (prompt: Prompt.Prompt): Array<WireMessage> => {
  const out: Array<WireMessage> = []
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
        out.push({
          role: "assistant",
          content: textOfParts(message.content),
          ...(calls.length === 0 ? {} : { tool_calls: calls }),
        })
        out.push(...toolResultMessages(message.content))
        break
      }
      case "tool":
        out.push(...toolResultMessages(message.content))
        break
    }
  }
  return out
}

const toolChoiceOf = (choice: LanguageModel.ProviderOptions["toolChoice"]): unknown => {
  if (typeof choice === "string") return choice
  if ("tool" in choice) return { type: "function", function: { name: choice.tool } }
  return choice.mode ?? "auto"
}

// --- OpenAI responses -> effect/ai parts --------------------------------------------------------------------

interface WireUsage {
  readonly prompt_tokens?: number
  readonly completion_tokens?: number
  readonly prompt_tokens_details?: { readonly cached_tokens?: number }
  readonly completion_tokens_details?: { readonly reasoning_tokens?: number }
}

interface WireToolCall {
  readonly index?: number
  readonly id?: string
  readonly function?: { readonly name?: string; readonly arguments?: string }
}

const finishReasonOf = (reason: unknown): Response.FinishReason =>
  reason === "stop"
    ? "stop"
    : reason === "length"
      ? "length"
      : reason === "tool_calls" || reason === "function_call"
        ? "tool-calls"
        : reason === "content_filter"
          ? "content-filter"
          : reason === null || reason === undefined
            ? "unknown"
            : "other"

const usageOf = (usage: WireUsage | undefined) => ({
  inputTokens: {
    total: usage?.prompt_tokens,
    cacheRead: usage?.prompt_tokens_details?.cached_tokens,
  },
  outputTokens: {
    total: usage?.completion_tokens,
    reasoning: usage?.completion_tokens_details?.reasoning_tokens,
  },
})

const parseArguments = (text: string | undefined): unknown => {
  if (text === undefined || text.trim() === "") return {}
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const errorMessageOf = (body: string): string => {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } | string; message?: string }
    if (typeof parsed.error === "string") return parsed.error
    return parsed.error?.message ?? parsed.message ?? body.slice(0, 300)
  } catch {
    return body.slice(0, 300)
  }
}

/** Makes the LanguageModel service; needs an `HttpClient`. */
export const makeOpenAiCompat = (options: OpenAiCompatOptions) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const semaphore = yield* Semaphore.make(options.maxConcurrency ?? 8)
    const url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`
    const maxRetries = options.maxRetries ?? 4
    const baseDelayMs = Duration.toMillis(Duration.fromInputUnsafe(options.retryBaseDelay ?? "1 second"))
    const timeout = options.timeout ?? "10 minutes"
    const key =
      options.apiKey === undefined
        ? undefined
        : typeof options.apiKey === "string"
          ? options.apiKey
          : Redacted.value(options.apiKey)

    const body = (provider: LanguageModel.ProviderOptions, stream: boolean) =>
      Effect.map(Effect.service(OpenAiCompatOverrides), (overrides) => {
        const temperature = overrides.temperature ?? options.temperature
        const topP = overrides.topP ?? options.topP
        const maxTokens = overrides.maxTokens ?? options.maxTokens
        const tools = provider.tools.map((tool) => ({
          type: "function",
          function: {
            name: tool.name,
            ...(Tool.getDescription(tool) === undefined ? {} : { description: Tool.getDescription(tool) }),
            parameters: Tool.getJsonSchema(tool),
          },
        }))
        return {
          model: options.model,
          messages: toOpenAiMessages(provider.prompt),
          ...(tools.length === 0 ? {} : { tools, tool_choice: toolChoiceOf(provider.toolChoice) }),
          ...(temperature === undefined ? {} : { temperature }),
          ...(topP === undefined ? {} : { top_p: topP }),
          ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
          ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
          ...options.extraBody,
          ...overrides.extraBody,
        }
      })

    /** One attempt: a response with status 2xx, or an AttemptFailure. */
    const attempt = (payload: unknown): Effect.Effect<HttpClientResponse.HttpClientResponse, AttemptFailure> =>
      Effect.gen(function* () {
        let request = HttpClientRequest.post(url).pipe(
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyJsonUnsafe(payload),
        )
        if (key !== undefined) request = HttpClientRequest.bearerToken(request, key)
        const response = yield* client.execute(request).pipe(
          Effect.mapError(
            (error) =>
              new AttemptFailure({
                status: undefined,
                message: `cannot reach ${url}: ${error.message}`,
                transient: true,
                retryAfterMs: undefined,
              }),
          ),
        )
        if (response.status >= 200 && response.status < 300) return response
        const text = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
        return yield* new AttemptFailure({
          status: response.status,
          message: `${url} answered ${response.status}: ${errorMessageOf(text)}`,
          transient: transientStatus(response.status),
          retryAfterMs: retryAfterMs(response.headers["retry-after"]),
        })
      })

    const withRetries = <A, R>(
      effect: Effect.Effect<A, AttemptFailure, R>,
      attempts = 0,
    ): Effect.Effect<A, AttemptFailure, R> =>
      effect.pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              new AttemptFailure({
                status: undefined,
                message: `${url} did not answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}`,
                transient: true,
                retryAfterMs: undefined,
              }),
            ),
        }),
        Effect.catchTag("AttemptFailure", (failure) =>
          failure.transient && attempts < maxRetries
            ? Effect.sleep(Duration.millis(Math.max(baseDelayMs * 2 ** attempts, failure.retryAfterMs ?? 0))).pipe(
                Effect.andThen(withRetries(effect, attempts + 1)),
              )
            : Effect.fail(
                new AttemptFailure({
                  ...failure,
                  message: `${failure.message} (after ${attempts + 1} attempt${attempts === 0 ? "" : "s"})`,
                }),
              ),
        ),
      )

    const toAiError = (method: string) => (failure: AttemptFailure) =>
      AiError.make({
        module: "@ds/model/OpenAiCompat",
        method,
        reason:
          failure.status === undefined
            ? new AiError.InternalProviderError({ description: failure.message })
            : AiError.reasonFromHttpStatus({ status: failure.status, description: failure.message }),
      })

    const invalid = (method: string, description: string) =>
      AiError.make({
        module: "@ds/model/OpenAiCompat",
        method,
        reason: new AiError.InvalidResponseError({ description }),
      })

    const generateText = (provider: LanguageModel.ProviderOptions) =>
      Effect.gen(function* () {
        const payload = yield* body(provider, false)
        const json = yield* withRetries(
          Effect.flatMap(attempt(payload), (response) =>
            response.json.pipe(
              Effect.mapError(
                (e) =>
                  new AttemptFailure({
                    status: undefined,
                    message: `${url} sent a body that is not JSON: ${e.message}`,
                    transient: true,
                    retryAfterMs: undefined,
                  }),
              ),
            ),
          ),
        ).pipe(Effect.mapError(toAiError("generateText")))
        const choice = (json as { choices?: Array<Record<string, unknown>> }).choices?.[0]
        const message = choice?.message as
          | { content?: string | null; reasoning_content?: string | null; tool_calls?: Array<WireToolCall> }
          | undefined
        if (message === undefined)
          return yield* Effect.fail(invalid("generateText", `${url} answered without choices[0].message`))
        const parts: Array<Response.PartEncoded> = []
        if (message.reasoning_content) parts.push({ type: "reasoning", text: message.reasoning_content })
        if (message.content) parts.push({ type: "text", text: message.content })
        for (const call of message.tool_calls ?? [])
          parts.push({
            type: "tool-call",
            id: call.id ?? `call_${parts.length}`,
            name: call.function?.name ?? "",
            params: parseArguments(call.function?.arguments),
          })
        parts.push({
          type: "finish",
          reason: finishReasonOf(choice?.finish_reason),
          usage: usageOf((json as { usage?: WireUsage }).usage),
        })
        return parts
      }).pipe(semaphore.withPermits(1))

    const streamText = (provider: LanguageModel.ProviderOptions) =>
      Stream.unwrap(
        Effect.gen(function* () {
          // The permit is held for the life of the stream (the scope of `Stream.unwrap`).
          yield* Semaphore.takeScoped(semaphore, 1)
          const payload = yield* body(provider, true)
          const response = yield* withRetries(attempt(payload)).pipe(Effect.mapError(toAiError("streamText")))
          const state = {
            textOpen: false,
            reasoningOpen: false,
            calls: new Map<number, { id: string; name: string; args: string }>(),
            finish: undefined as unknown,
            usage: undefined as WireUsage | undefined,
          }
          const onData = (data: string): Array<Response.StreamPartEncoded> => {
            const out: Array<Response.StreamPartEncoded> = []
            if (data === "[DONE]") return out
            let chunk: {
              choices?: Array<{
                delta?: { content?: string | null; reasoning_content?: string | null; tool_calls?: Array<WireToolCall> }
                finish_reason?: unknown
              }>
              usage?: WireUsage
            }
            try {
              chunk = JSON.parse(data)
            } catch {
              return out
            }
            if (chunk.usage) state.usage = chunk.usage
            const choice = chunk.choices?.[0]
            const delta = choice?.delta
            if (delta?.reasoning_content) {
              if (!state.reasoningOpen) out.push({ type: "reasoning-start", id: "reasoning" })
              state.reasoningOpen = true
              out.push({ type: "reasoning-delta", id: "reasoning", delta: delta.reasoning_content })
            }
            if (delta?.content) {
              if (state.reasoningOpen) out.push({ type: "reasoning-end", id: "reasoning" })
              state.reasoningOpen = false
              if (!state.textOpen) out.push({ type: "text-start", id: "text" })
              state.textOpen = true
              out.push({ type: "text-delta", id: "text", delta: delta.content })
            }
            for (const call of delta?.tool_calls ?? []) {
              const index = call.index ?? 0
              const known = state.calls.get(index) ?? { id: call.id ?? `call_${index}`, name: "", args: "" }
              state.calls.set(index, {
                id: call.id ?? known.id,
                name: known.name + (call.function?.name ?? ""),
                args: known.args + (call.function?.arguments ?? ""),
              })
            }
            if (choice?.finish_reason !== undefined && choice.finish_reason !== null)
              state.finish = choice.finish_reason
            return out
          }
          const finish = (): Array<Response.StreamPartEncoded> => {
            const out: Array<Response.StreamPartEncoded> = []
            if (state.reasoningOpen) out.push({ type: "reasoning-end", id: "reasoning" })
            if (state.textOpen) out.push({ type: "text-end", id: "text" })
            for (const call of state.calls.values())
              out.push({ type: "tool-call", id: call.id, name: call.name, params: parseArguments(call.args) })
            out.push({ type: "finish", reason: finishReasonOf(state.finish), usage: usageOf(state.usage) })
            return out
          }
          return response.stream.pipe(
            Stream.decodeText,
            Stream.splitLines,
            Stream.filter((line) => line.startsWith("data:")),
            Stream.map((line) => onData(line.slice(5).trim())),
            Stream.concat(Stream.sync(() => finish())),
            Stream.flatMap((parts) => Stream.fromIterable(parts)),
            Stream.mapError((error) =>
              AiError.make({
                module: "@ds/model/OpenAiCompat",
                method: "streamText",
                reason: new AiError.InternalProviderError({
                  description: `${url}: the stream broke: ${error.message}`,
                }),
              }),
            ),
          )
        }),
      )

    return yield* LanguageModel.make({ generateText, streamText })
  })

/** Layers of the OpenAI-compatible provider. */
export const OpenAiCompat = {
  /** `LanguageModel` over `HttpClient` (provide one: `FetchHttpClient.layer`, or platform-node's undici client). */
  layer: (options: OpenAiCompatOptions): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
    Layer.effect(LanguageModel.LanguageModel, makeOpenAiCompat(options)),
  /** `LanguageModel` over Node's built-in `fetch`. */
  layerFetch: (options: OpenAiCompatOptions): Layer.Layer<LanguageModel.LanguageModel> =>
    Layer.effect(LanguageModel.LanguageModel, makeOpenAiCompat(options)).pipe(Layer.provide(FetchHttpClient.layer)),
} as const
