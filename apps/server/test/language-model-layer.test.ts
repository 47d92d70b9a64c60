/**
 * @ds/model's OpenAI-compatible `LanguageModel` layer (`OpenAiCompat`) against the real @ds/server on loopback:
 * the two halves of the project must speak the same wire format. A non-streamed completion parses into text,
 * finish reason and usage; the streamed deltas of the same greedy request concatenate to the same text; offered
 * tools, a forced tool choice and a tool-call history are accepted; a wrong key is a typed `AuthenticationError`
 * after exactly one request (401 is not retried); and a 429 from the server's full queue is retried by the layer
 * until the queue has room.
 *
 * One server for all tests (they run in sequence): one batch slot and a queue of one, so that two blocking streams
 * fill it. The checkpoint is the tiny random one of `fixture.ts`: outputs are meaningless, the protocol is checked.
 */
import { OpenAiCompat, type OpenAiCompatOptions, OpenAiCompatOverrides } from "@ds/model"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Schema, Stream } from "effect"
import { LanguageModel, type Prompt, Tool, Toolkit } from "effect/ai"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { launch, makeCheckpoint } from "./fixture.ts"

const key = "test-key"
const model = "tiny-chat"
const chatRoute = "/v1/chat/completions"

class Served extends Context.Service<Served, { readonly url: string }>()("test/Served") {
  static readonly layer = Layer.effect(
    Served,
    Effect.acquireRelease(
      Effect.tryPromise(async () =>
        launch({
          checkpoint: await makeCheckpoint(),
          apiKeys: [key],
          maxTokensCap: 4000,
          engine: { maxBatch: 1, maxQueue: 1 },
        }),
      ),
      (server) => Effect.promise(() => server.close()),
    ),
  )
}

/** The layer under test, pointed at the served model; retries fast unless told otherwise. */
const languageModel = (url: string, extra: Partial<OpenAiCompatOptions> = {}) =>
  OpenAiCompat.layerFetch({ baseUrl: `${url}/v1`, apiKey: key, model, retryBaseDelay: "1 millis", ...extra })

/** Greedy, seeded, exactly `maxTokens` tokens (EOS ignored), so the text is never empty and always the same. */
const greedy = (maxTokens: number) =>
  Effect.provideService(OpenAiCompatOverrides, {
    temperature: 0,
    maxTokens,
    extraBody: { seed: 1, ignore_eos: true },
  })

/** `ds_requests_total{route, status}` from the server's /metrics (0 when the series does not exist yet). */
const answered = (url: string, status: number) =>
  Effect.gen(function* () {
    const response = yield* HttpClient.execute(
      HttpClientRequest.get(`${url}/metrics`).pipe(HttpClientRequest.bearerToken(key)),
    )
    const text = yield* response.text
    const series = `ds_requests_total{route="${chatRoute}",status="${status}"} `
    const line = text.split("\n").find((l) => l.startsWith(series))
    return line === undefined ? 0 : Number(line.slice(series.length))
  })

const health = (url: string) =>
  HttpClient.get(`${url}/health`).pipe(
    Effect.flatMap((r) => r.json),
    Effect.map((body) => body as { waiting: number; prefilling: number; running: number }),
  )

/** Polls `check` every 50 ms until it holds; fails the test after 30 s of not holding. */
const waitUntil = (what: string, check: Effect.Effect<boolean, unknown, HttpClient.HttpClient>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 600; i++) {
      if (yield* check) return
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.fail(new Error(`gave up waiting until ${what}`))
  })

/** A raw streamed chat request that keeps its batch slot (or queue place) until its fiber is interrupted. */
const blocker = (url: string) =>
  HttpClient.execute(
    HttpClientRequest.post(`${url}${chatRoute}`).pipe(
      HttpClientRequest.bearerToken(key),
      HttpClientRequest.bodyJsonUnsafe({
        model,
        messages: [{ role: "user", content: "Go on" }],
        max_tokens: 3000,
        ignore_eos: true,
        stream: true,
      }),
    ),
  ).pipe(Effect.flatMap((response) => Stream.runDrain(response.stream)))

const GetWeather = Tool.make("get_weather", {
  description: "Weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.String,
})
const weather = Toolkit.make(GetWeather)

layer(Layer.mergeAll(Served.layer, FetchHttpClient.layer), { excludeTestServices: true, timeout: "120 seconds" })(
  "OpenAiCompat LanguageModel layer against @ds/server",
  (it) => {
    it.effect("generateText: text, finish reason length exactly at max_tokens, and usage parse", () =>
      Effect.gen(function* () {
        const { url } = yield* Served
        const response = yield* LanguageModel.generateText({ prompt: "Hello" }).pipe(
          greedy(12),
          Effect.provide(languageModel(url)),
        )
        assert.isAbove(response.text.length, 0)
        assert.strictEqual(response.finishReason, "length")
        assert.strictEqual(response.usage.outputTokens.total, 12)
        assert.isAbove(response.usage.inputTokens.total ?? 0, 0)
      }),
    )

    it.effect("streamText: the deltas concatenate to the non-streamed text; finish reason and usage agree", () =>
      Effect.gen(function* () {
        const { url } = yield* Served
        const lm = languageModel(url)
        const prompt = [
          { role: "system" as const, content: "Be brief." },
          { role: "user" as const, content: "Tell me a story" },
        ]
        const whole = yield* LanguageModel.generateText({ prompt }).pipe(greedy(16), Effect.provide(lm))
        const parts = yield* LanguageModel.streamText({ prompt }).pipe(
          Stream.runCollect,
          greedy(16),
          Effect.provide(lm),
        )
        const deltas = parts.flatMap((p) => (p.type === "text-delta" ? [p.delta] : []))
        assert.isAbove(deltas.length, 1)
        assert.strictEqual(deltas.join(""), whole.text)
        const finish = parts.find((p) => p.type === "finish")
        assert.strictEqual(finish?.type === "finish" ? finish.reason : undefined, whole.finishReason)
        assert.strictEqual(finish?.type === "finish" ? finish.usage.outputTokens.total : undefined, 16)
        assert.strictEqual(
          finish?.type === "finish" ? finish.usage.inputTokens.total : undefined,
          whole.usage.inputTokens.total,
        )
      }),
    )

    it.effect("tools: a tool-call history and a forced tool are accepted; the tools reach the chat template", () =>
      Effect.gen(function* () {
        const { url } = yield* Served
        const lm = languageModel(url)
        // A whole round: the assistant's call and the tool's result go back as OpenAI tool_calls / tool messages.
        const prompt: Prompt.RawInput = [
          { role: "user", content: "Weather in Paris?" },
          {
            role: "assistant",
            content: [{ type: "tool-call", id: "call_1", name: "get_weather", params: { city: "Paris" } }],
          },
          {
            role: "tool",
            content: [{ type: "tool-result", id: "call_1", name: "get_weather", isFailure: false, result: "sunny" }],
          },
        ]
        const plain = yield* LanguageModel.generateText({ prompt }).pipe(greedy(2), Effect.provide(lm))
        const offered = yield* LanguageModel.generateText({
          prompt,
          toolkit: weather,
          toolChoice: { tool: "get_weather" },
          disableToolCallResolution: true,
        }).pipe(greedy(2), Effect.provide(lm))
        assert.strictEqual(plain.usage.outputTokens.total, 2)
        assert.strictEqual(offered.usage.outputTokens.total, 2)
        // The tool's JSON schema and the DSML tool preamble are in the prompt: far more input tokens.
        assert.isAbove(offered.usage.inputTokens.total ?? 0, (plain.usage.inputTokens.total ?? 0) + 100)
      }),
    )

    it.effect("a wrong key: an AuthenticationError after exactly one request (401 is not retried)", () =>
      Effect.gen(function* () {
        const { url } = yield* Served
        const before = yield* answered(url, 401)
        const error = yield* LanguageModel.generateText({ prompt: "x" }).pipe(
          greedy(2),
          Effect.provide(languageModel(url, { apiKey: "wrong-key", maxRetries: 4 })),
          Effect.flip,
        )
        assert.strictEqual(error.reason._tag, "AuthenticationError")
        assert.include(error.message, "401")
        assert.include(error.message, "API key")
        assert.include(error.message, "after 1 attempt")
        assert.strictEqual((yield* answered(url, 401)) - before, 1)
      }),
    )

    it.effect("a 429 from the full queue is retried by the layer until the queue has room", () =>
      Effect.gen(function* () {
        const { url } = yield* Served
        // Fill the server: one stream holds the only batch slot, a second the only queue place.
        const running = yield* Effect.forkChild(blocker(url))
        yield* waitUntil(
          "the first stream runs",
          Effect.map(health(url), (h) => h.prefilling + h.running === 1),
        )
        const waiting = yield* Effect.forkChild(blocker(url))
        yield* waitUntil(
          "the second stream waits",
          Effect.map(health(url), (h) => h.waiting === 1),
        )
        const refusedBefore = yield* answered(url, 429)
        const call = yield* Effect.forkChild(
          LanguageModel.generateText({ prompt: "Hello" }).pipe(
            greedy(4),
            Effect.provide(languageModel(url, { retryBaseDelay: "100 millis", maxRetries: 8 })),
          ),
        )
        // The layer's first attempt is refused; only then does the queue get room.
        yield* waitUntil(
          "the server answers 429",
          Effect.map(answered(url, 429), (n) => n > refusedBefore),
        )
        yield* Fiber.interrupt(waiting)
        yield* Fiber.interrupt(running)
        const response = yield* Fiber.join(call)
        assert.strictEqual(response.finishReason, "length")
        assert.strictEqual(response.usage.outputTokens.total, 4)
        assert.isAbove((yield* answered(url, 429)) - refusedBefore, 0)
      }),
    )
  },
)
