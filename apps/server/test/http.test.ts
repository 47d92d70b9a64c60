/**
 * Raw HTTP against a real server on loopback: every malformed request gets OpenAI's error JSON with the right
 * status (never a crash or a hang), auth guards all but /health, SSE framing, metrics, and the batching laws:
 * a seeded request gives the same tokens alone or batched, the queue limit answers 429, and a client that goes
 * away frees its slot.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { launch, makeCheckpoint, type TestServer } from "./fixture.ts"

let checkpoint: string
let server: TestServer
const key = "k1"
const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" }

beforeAll(async () => {
  checkpoint = await makeCheckpoint()
  server = await launch({ checkpoint, apiKeys: [key], maxTokensCap: 64, maxBodyBytes: 64 * 1024 })
})

afterAll(async () => {
  await server?.close()
})

const post = (path: string, body: string, headers: Record<string, string> = auth, signal?: AbortSignal) =>
  fetch(`${server.url}${path}`, { method: "POST", headers, body, ...(signal === undefined ? {} : { signal }) })

const chat = (extra: Record<string, unknown>) =>
  JSON.stringify({ model: "tiny-chat", messages: [{ role: "user", content: "Hi" }], max_tokens: 4, ...extra })

const metricValue = (text: string, series: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return Number(line?.split(" ")[1] ?? Number.NaN)
}

describe("malformed requests", () => {
  const table: ReadonlyArray<{
    readonly name: string
    readonly path?: string
    readonly body: string
    readonly status: number
    readonly type: string
    readonly param?: string | null
    readonly code?: string | null
    readonly headers?: Record<string, string>
  }> = [
    { name: "bad JSON", body: "{not json", status: 400, type: "invalid_request_error", code: "invalid_json" },
    { name: "a JSON array body", body: "[1,2]", status: 400, type: "invalid_request_error", param: "body" },
    {
      name: "missing model",
      body: JSON.stringify({ messages: [] }),
      status: 400,
      type: "invalid_request_error",
      param: "model",
    },
    {
      name: "unknown model",
      body: chat({ model: "gpt-4o" }),
      status: 404,
      type: "invalid_request_error",
      code: "model_not_found",
    },
    {
      name: "messages not an array",
      body: chat({ messages: "hi" }),
      status: 400,
      type: "invalid_request_error",
      param: "messages",
    },
    {
      name: "empty messages",
      body: chat({ messages: [] }),
      status: 400,
      type: "invalid_request_error",
      param: "messages",
    },
    {
      name: "unknown role",
      body: chat({ messages: [{ role: "wizard", content: "x" }] }),
      status: 400,
      type: "invalid_request_error",
      param: "messages[0].role",
    },
    {
      name: "temperature a string",
      body: chat({ temperature: "hot" }),
      status: 400,
      type: "invalid_request_error",
      param: "temperature",
    },
    {
      name: "temperature out of range",
      body: chat({ temperature: 3 }),
      status: 400,
      type: "invalid_request_error",
      param: "temperature",
    },
    {
      name: "top_p out of range",
      body: chat({ top_p: 1.5 }),
      status: 400,
      type: "invalid_request_error",
      param: "top_p",
    },
    { name: "n zero", body: chat({ n: 0 }), status: 400, type: "invalid_request_error", param: "n" },
    {
      name: "max_tokens fractional",
      body: chat({ max_tokens: 2.5 }),
      status: 400,
      type: "invalid_request_error",
      param: "max_tokens",
    },
    {
      name: "max_tokens over the cap",
      body: chat({ max_tokens: 1000 }),
      status: 400,
      type: "invalid_request_error",
      code: "max_tokens_exceeded",
    },
    {
      name: "stop of numbers",
      body: chat({ stop: [1, 2] }),
      status: 400,
      type: "invalid_request_error",
      param: "stop",
    },
    {
      name: "top_logprobs without logprobs",
      body: chat({ top_logprobs: 2 }),
      status: 400,
      type: "invalid_request_error",
      param: "top_logprobs",
    },
    {
      name: "tools not an array",
      body: chat({ tools: {} }),
      status: 400,
      type: "invalid_request_error",
      param: "tools",
    },
    {
      name: "tool_choice required without tools",
      body: chat({ tool_choice: "required" }),
      status: 400,
      type: "invalid_request_error",
      param: "tool_choice",
    },
    {
      name: "tool message answering no call",
      body: chat({
        messages: [
          { role: "user", content: "x" },
          { role: "tool", tool_call_id: "c", content: "y" },
        ],
      }),
      status: 400,
      type: "invalid_request_error",
      param: "messages",
    },
    {
      name: "prompt longer than the context",
      body: chat({ messages: [{ role: "user", content: "x".repeat(5000) }] }),
      status: 400,
      type: "invalid_request_error",
      code: "context_length_exceeded",
    },
    {
      name: "completions: prompt of the wrong type",
      path: "/v1/completions",
      body: JSON.stringify({ model: "tiny-chat", prompt: { a: 1 } }),
      status: 400,
      type: "invalid_request_error",
      param: "prompt",
    },
    {
      name: "completions: token id outside the vocabulary",
      path: "/v1/completions",
      body: JSON.stringify({ model: "tiny-chat", prompt: [1, 2, 999999] }),
      status: 400,
      type: "invalid_request_error",
      param: "prompt",
    },
    {
      name: "body over the size cap",
      body: chat({ messages: [{ role: "user", content: "x".repeat(70 * 1024) }] }),
      status: 413,
      type: "invalid_request_error",
      code: "request_too_large",
    },
    {
      name: "no API key",
      body: chat({}),
      status: 401,
      type: "invalid_request_error",
      code: "invalid_api_key",
      headers: {},
    },
    {
      name: "wrong API key",
      body: chat({}),
      status: 401,
      type: "invalid_request_error",
      code: "invalid_api_key",
      headers: { authorization: "Bearer nope" },
    },
    { name: "unknown route", path: "/v1/embeddings", body: "{}", status: 404, type: "invalid_request_error" },
  ]

  for (const row of table)
    it(`${row.name} -> ${row.status} ${row.type}`, async () => {
      const response = await post(row.path ?? "/v1/chat/completions", row.body, row.headers ?? auth)
      expect(response.status).toBe(row.status)
      expect(response.headers.get("x-request-id")).toMatch(/\S+/)
      const body = (await response.json()) as { error: Record<string, unknown> }
      expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"])
      expect(body.error.type).toBe(row.type)
      expect(typeof body.error.message).toBe("string")
      if (row.param !== undefined) expect(body.error.param).toBe(row.param)
      if (row.code !== undefined) expect(body.error.code).toBe(row.code)
    })

  it("a chunked body (no Content-Length) over the cap -> 413", async () => {
    const big = new TextEncoder().encode(chat({ messages: [{ role: "user", content: "y".repeat(80 * 1024) }] }))
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < big.length; i += 8192) controller.enqueue(big.subarray(i, i + 8192))
        controller.close()
      },
    })
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: auth,
      body,
      duplex: "half",
    } as RequestInit)
    expect(response.status).toBe(413)
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("request_too_large")
  })

  it("a client's x-request-id is echoed", async () => {
    const response = await post("/v1/chat/completions", chat({}), { ...auth, "x-request-id": "trace-42" })
    expect(response.headers.get("x-request-id")).toBe("trace-42")
  })
})

describe("open and guarded routes", () => {
  it("/health needs no key; /metrics does, and exports every series", async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401)
    const text = await (await fetch(`${server.url}/metrics`, { headers: auth })).text()
    for (const series of [
      "ds_requests_total",
      "ds_prompt_tokens_total",
      "ds_generation_tokens_total",
      "ds_queue_depth",
      "ds_running_sequences",
      "ds_batch_size_bucket",
      "ds_time_to_first_token_seconds_bucket",
      "ds_inter_token_latency_seconds_bucket",
    ])
      expect(text).toContain(series)
  })
})

describe("SSE framing", () => {
  it("every event is `data: <json>` and a blank line; the stream ends with data: [DONE]", async () => {
    const response = await post("/v1/chat/completions", chat({ stream: true, max_tokens: 6 }))
    expect(response.headers.get("content-type")).toContain("text/event-stream")
    const text = await response.text()
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true)
    const events = text.split("\n\n").filter((e) => e !== "")
    for (const e of events) expect(e.startsWith("data: ")).toBe(true)
    for (const e of events.slice(0, -1)) expect(() => JSON.parse(e.slice(6))).not.toThrow()
  })
})

describe("continuous batching", () => {
  it("a seeded request gives the same tokens alone or batched with others", async () => {
    const request = (seed: number, maxTokens: number) =>
      post(
        "/v1/completions",
        JSON.stringify({
          model: "tiny-chat",
          prompt: "The batch",
          max_tokens: maxTokens,
          seed,
          temperature: 1,
          logprobs: 0,
        }),
      ).then((r) => r.json() as Promise<{ choices: Array<{ logprobs: { tokens: Array<string> } }> }>)
    const alone = await request(17, 24)
    const before = metricValue(
      await (await fetch(`${server.url}/metrics`, { headers: auth })).text(),
      "ds_batch_size_sum",
    )
    const [batched] = await Promise.all([
      request(17, 24),
      request(1, 30),
      request(2, 10),
      request(3, 40),
      request(4, 20),
    ])
    const after = await (await fetch(`${server.url}/metrics`, { headers: auth })).text()
    expect(batched?.choices[0]?.logprobs.tokens).toEqual(alone.choices[0]?.logprobs.tokens)
    // The batched run really shared decode steps: more sequence-steps than one stream would make.
    expect(metricValue(after, "ds_batch_size_sum") - before).toBeGreaterThan(40)
    expect(metricValue(after, 'ds_batch_size_bucket{le="1"}')).toBeLessThan(metricValue(after, "ds_batch_size_count"))
  })
})

describe("queue limit and disconnects", () => {
  it("a full queue answers 429; a client that disconnects frees its slot", async () => {
    const small = await launch({ checkpoint, engine: { maxBatch: 1, maxQueue: 1 }, maxTokensCap: 4000 })
    try {
      const long = (signal: AbortSignal) =>
        fetch(`${small.url}/v1/chat/completions`, {
          method: "POST",
          body: chat({ stream: true, max_tokens: 3000 }),
          signal,
        })
      const first = new AbortController()
      const second = new AbortController()
      const running = await long(first.signal)
      const reader = running.body?.getReader()
      await reader?.read()
      const waiting = long(second.signal)
      // The second request waits in the queue; the third finds it full.
      let third: Response | undefined
      for (let i = 0; i < 100; i++) {
        const health = (await (await fetch(`${small.url}/health`)).json()) as { waiting: number }
        if (health.waiting === 1) {
          third = await fetch(`${small.url}/v1/chat/completions`, { method: "POST", body: chat({}) })
          break
        }
        await new Promise((r) => setTimeout(r, 50))
      }
      expect(third?.status).toBe(429)
      expect(third?.headers.get("retry-after")).toBe("1")
      const refused = third === undefined ? undefined : ((await third.json()) as { error: { code: string } })
      expect(refused?.error.code).toBe("queue_full")
      first.abort()
      second.abort()
      await waiting.catch(() => undefined)
      // Both slots are freed although neither stream reached its 3000 tokens.
      let load = { waiting: -1, prefilling: -1, running: -1 }
      for (let i = 0; i < 200; i++) {
        load = (await (await fetch(`${small.url}/health`)).json()) as typeof load
        if (load.waiting + load.prefilling + load.running === 0) break
        await new Promise((r) => setTimeout(r, 50))
      }
      expect(load).toMatchObject({ waiting: 0, prefilling: 0, running: 0 })
      const after = await fetch(`${small.url}/v1/chat/completions`, { method: "POST", body: chat({}) })
      expect(after.status).toBe(200)
      const generated = metricValue(await (await fetch(`${small.url}/metrics`)).text(), "ds_generation_tokens_total")
      expect(generated).toBeLessThan(3000)
    } finally {
      await small.close()
    }
  })
})

describe("chunked prefill", () => {
  it("a long prompt does not stall a running stream: it keeps getting tokens during the prefill", async () => {
    const streaming = await post(
      "/v1/completions",
      JSON.stringify({
        model: "tiny-chat",
        prompt: "running",
        max_tokens: 64,
        ignore_eos: true,
        stream: true,
        logprobs: 0,
      }),
    )
    expect(streaming.status).toBe(200)
    const reader = streaming.body?.getReader()
    await reader?.read()
    let tokensDuringPrefill = 0
    let prefillDone = false
    const counting = (async () => {
      const decoder = new TextDecoder()
      while (!prefillDone) {
        const part = await reader?.read()
        if (part === undefined || part.done) break
        if (!prefillDone) tokensDuringPrefill += decoder.decode(part.value).split('"tokens":[').length - 1
      }
    })()
    // 3000 prompt tokens: about 24 chunks of 128, each followed by a decode step of the running stream.
    const long = await post(
      "/v1/completions",
      JSON.stringify({
        model: "tiny-chat",
        prompt: Array.from({ length: 3000 }, (_, i) => 3 + (i % 250)),
        max_tokens: 1,
      }),
    )
    prefillDone = true
    expect(long.status).toBe(200)
    await reader?.cancel()
    await counting
    expect(tokensDuringPrefill).toBeGreaterThanOrEqual(10)
  })
})
