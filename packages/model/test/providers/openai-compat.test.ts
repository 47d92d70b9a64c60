/**
 * The OpenAI-compatible provider against a REAL HTTP server on loopback (node:http speaking OpenAI's wire format:
 * JSON chat completions and SSE streams), not a mock of the client: requests really cross a socket.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, Stream } from "effect"
import { LanguageModel, Tool, Toolkit } from "effect/ai"
import { OpenAiCompat, type OpenAiCompatOptions, OpenAiCompatOverrides } from "../../src/index.ts"

type Handler = (body: Record<string, unknown>, req: IncomingMessage, res: ServerResponse) => void

interface Loopback {
  readonly url: string
  readonly requests: Array<{ body: Record<string, unknown>; auth: string | undefined }>
  readonly maxInFlight: () => number
}

/** Starts a server whose n-th request is answered by handlers[min(n, last)]; closed with the scope. */
const loopback = (handlers: ReadonlyArray<Handler>) =>
  Effect.acquireRelease(
    Effect.callback<{ loopback: Loopback; close: () => Promise<void> }>((resume) => {
      const requests: Loopback["requests"] = []
      let inFlight = 0
      let maxInFlight = 0
      const server = createServer((req, res) => {
        let raw = ""
        req.on("data", (chunk) => {
          raw += chunk
        })
        req.on("end", () => {
          const n = requests.length
          const body = JSON.parse(raw) as Record<string, unknown>
          requests.push({ body, auth: req.headers.authorization })
          inFlight++
          maxInFlight = Math.max(maxInFlight, inFlight)
          res.on("close", () => inFlight--)
          handlers[Math.min(n, handlers.length - 1)]!(body, req, res)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as AddressInfo).port
        resume(
          Effect.succeed({
            loopback: { url: `http://127.0.0.1:${port}/v1`, requests, maxInFlight: () => maxInFlight },
            close: () =>
              new Promise<void>((done) => {
                server.closeAllConnections()
                server.close(() => done())
              }),
          }),
        )
      })
    }),
    ({ close }) => Effect.promise(close),
  ).pipe(Effect.map(({ loopback }) => loopback))

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
  (_, __, res) => {
    res.writeHead(status, { "content-type": "application/json", ...headers })
    res.end(JSON.stringify(body))
  }

const completion = (message: Record<string, unknown>, finish = "stop") =>
  json(200, {
    id: "chatcmpl-1",
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason: finish }],
    usage: {
      prompt_tokens: 11,
      completion_tokens: 7,
      total_tokens: 18,
      completion_tokens_details: { reasoning_tokens: 3 },
    },
  })

const sse =
  (chunks: ReadonlyArray<unknown>): Handler =>
  (_, __, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" })
    for (const chunk of chunks) res.write(`data: ${JSON.stringify(chunk)}\n\n`)
    res.end("data: [DONE]\n\n")
  }

const options = (url: string, extra: Partial<OpenAiCompatOptions> = {}): OpenAiCompatOptions => ({
  baseUrl: url,
  apiKey: "sk-test",
  model: "deepseek-reasoner",
  retryBaseDelay: "1 millis",
  ...extra,
})

const GetWeather = Tool.make("get_weather", {
  description: "Weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.String,
})
const weather = Toolkit.make(GetWeather)

describe("OpenAiCompat provider over a real loopback server", () => {
  it.live("chat: sends model, messages, key and sampling; returns text, reasoning and usage", () =>
    Effect.gen(function* () {
      const server = yield* loopback([completion({ content: "4", reasoning_content: "2+2" })])
      const response = yield* LanguageModel.generateText({
        prompt: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "2+2?" },
        ],
      }).pipe(
        Effect.provideService(OpenAiCompatOverrides, { temperature: 0, maxTokens: 64 }),
        Effect.provide(OpenAiCompat.layerFetch(options(server.url, { topP: 0.95 }))),
      )
      assert.strictEqual(response.text, "4")
      assert.strictEqual(response.reasoningText, "2+2")
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.usage.inputTokens.total, 11)
      assert.strictEqual(response.usage.outputTokens.total, 7)
      assert.strictEqual(response.usage.outputTokens.reasoning, 3)
      const [request] = server.requests
      assert.strictEqual(request!.auth, "Bearer sk-test")
      assert.deepStrictEqual(request!.body, {
        model: "deepseek-reasoner",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "2+2?" },
        ],
        temperature: 0,
        top_p: 0.95,
        max_tokens: 64,
      })
    }).pipe(Effect.scoped),
  )

  it.live("429 and 5xx are retried with backoff until an answer comes", () =>
    Effect.gen(function* () {
      const server = yield* loopback([
        json(429, { error: { message: "slow down" } }, { "retry-after": "0" }),
        json(503, { error: { message: "overloaded" } }),
        completion({ content: "ok" }),
      ])
      const response = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
        Effect.provide(OpenAiCompat.layerFetch(options(server.url))),
      )
      assert.strictEqual(response.text, "ok")
      assert.strictEqual(server.requests.length, 3)
    }).pipe(Effect.scoped),
  )

  it.live("a 400 is not retried and fails with the server's message", () =>
    Effect.gen(function* () {
      const server = yield* loopback([json(400, { error: { message: "unknown model 'x'" } })])
      const error = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
        Effect.provide(OpenAiCompat.layerFetch(options(server.url))),
        Effect.flip,
      )
      assert.strictEqual(error.reason._tag, "InvalidRequestError")
      assert.include(error.message, "unknown model 'x'")
      assert.strictEqual(server.requests.length, 1)
    }).pipe(Effect.scoped),
  )

  it.live("retries stop after maxRetries and the error says how many attempts were made", () =>
    Effect.gen(function* () {
      const server = yield* loopback([json(500, { error: { message: "boom" } })])
      const error = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
        Effect.provide(OpenAiCompat.layerFetch(options(server.url, { maxRetries: 2 }))),
        Effect.flip,
      )
      assert.strictEqual(server.requests.length, 3)
      assert.include(error.message, "after 3 attempts")
    }).pipe(Effect.scoped),
  )

  it.live("an attempt that times out is retried", () =>
    Effect.gen(function* () {
      const server = yield* loopback([() => {}, completion({ content: "late but here" })])
      const response = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
        Effect.provide(OpenAiCompat.layerFetch(options(server.url, { timeout: "300 millis" }))),
      )
      assert.strictEqual(response.text, "late but here")
      assert.strictEqual(server.requests.length, 2)
    }).pipe(Effect.scoped),
  )

  it.live("at most maxConcurrency requests are in flight", () =>
    Effect.gen(function* () {
      const slow: Handler = (body, req, res) => setTimeout(() => completion({ content: "x" })(body, req, res), 40)
      const server = yield* loopback([slow])
      yield* Effect.forEach(Array.from({ length: 6 }), () => LanguageModel.generateText({ prompt: "hi" }), {
        concurrency: "unbounded",
      }).pipe(Effect.provide(OpenAiCompat.layerFetch(options(server.url, { maxConcurrency: 2 }))))
      assert.strictEqual(server.requests.length, 6)
      assert.strictEqual(server.maxInFlight(), 2)
    }).pipe(Effect.scoped),
  )

  it.live("streaming: SSE deltas of reasoning and text arrive in order, usage at the end", () =>
    Effect.gen(function* () {
      const server = yield* loopback([
        sse([
          { choices: [{ index: 0, delta: { role: "assistant", reasoning_content: "think " } }] },
          { choices: [{ index: 0, delta: { reasoning_content: "more" } }] },
          { choices: [{ index: 0, delta: { content: "Hel" } }] },
          { choices: [{ index: 0, delta: { content: "lo" }, finish_reason: "stop" }] },
          { choices: [], usage: { prompt_tokens: 5, completion_tokens: 4 } },
        ]),
      ])
      const parts = yield* LanguageModel.streamText({ prompt: "hi" }).pipe(
        Stream.runCollect,
        Effect.provide(OpenAiCompat.layerFetch(options(server.url))),
      )
      const text = parts.flatMap((p) => (p.type === "text-delta" ? [p.delta] : [])).join("")
      const reasoning = parts.flatMap((p) => (p.type === "reasoning-delta" ? [p.delta] : [])).join("")
      assert.strictEqual(text, "Hello")
      assert.strictEqual(reasoning, "think more")
      const finish = parts.find((p) => p.type === "finish")
      assert.strictEqual(finish?.type === "finish" ? finish.usage.outputTokens.total : -1, 4)
      assert.deepStrictEqual(server.requests[0]!.body.stream_options, { include_usage: true })
    }).pipe(Effect.scoped),
  )

  it.live("tool calls: tools are offered in OpenAI's shape and calls come back parsed, whole or streamed", () =>
    Effect.gen(function* () {
      const call = { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }
      const server = yield* loopback([
        completion({ content: null, tool_calls: [call] }, "tool_calls"),
        sse([
          {
            choices: [
              {
                index: 0,
                delta: {
                  tool_calls: [{ index: 0, id: "call_2", function: { name: "get_weather", arguments: '{"ci' } }],
                },
              },
            ],
          },
          {
            choices: [
              {
                index: 0,
                delta: { tool_calls: [{ index: 0, function: { arguments: 'ty":"Oslo"}' } }] },
                finish_reason: "tool_calls",
              },
            ],
          },
        ]),
      ])
      const layer = OpenAiCompat.layerFetch(options(server.url))
      const response = yield* LanguageModel.generateText({
        prompt: "weather in Paris?",
        toolkit: weather,
        disableToolCallResolution: true,
      }).pipe(Effect.provide(layer))
      assert.strictEqual(response.finishReason, "tool-calls")
      assert.deepStrictEqual(
        response.toolCalls.map((c) => [c.id, c.name, c.params]),
        [["call_1", "get_weather", { city: "Paris" }]],
      )
      const offered = server.requests[0]!.body.tools as Array<{ type: string; function: { name: string } }>
      assert.strictEqual(offered[0]!.type, "function")
      assert.strictEqual(offered[0]!.function.name, "get_weather")
      const streamed = yield* LanguageModel.streamText({
        prompt: "weather in Oslo?",
        toolkit: weather,
        disableToolCallResolution: true,
      }).pipe(Stream.runCollect, Effect.provide(layer))
      const calls = streamed.flatMap((p) => (p.type === "tool-call" ? [[p.id, p.params]] : []))
      assert.deepStrictEqual(calls, [["call_2", { city: "Oslo" }]])
    }).pipe(Effect.scoped),
  )
})
