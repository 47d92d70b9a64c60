/**
 * The official `openai` client against a real server on loopback: the wire format must be exact enough that the
 * SDK parses every answer (chat, streaming, n, logprobs, tools, completions, models) and maps every error status
 * to its error class.
 */
import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { launch, makeCheckpoint, type TestServer } from "./fixture.ts"

let server: TestServer
let client: OpenAI
const model = "tiny-chat"

beforeAll(async () => {
  const checkpoint = await makeCheckpoint()
  server = await launch({ checkpoint, apiKeys: ["test-key"], maxTokensCap: 64 })
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "test-key", maxRetries: 0 })
})

afterAll(async () => {
  await server?.close()
})

const user = (content: string) => [{ role: "user" as const, content }]

describe("openai client", () => {
  it("chat: a completion with usage, and finish_reason length exactly at max_tokens", async () => {
    const r = await client.chat.completions.create({ model, messages: user("Hello"), max_tokens: 12, seed: 3 })
    expect(r.object).toBe("chat.completion")
    expect(r.model).toBe(model)
    const choice = r.choices[0]
    expect(choice?.message.role).toBe("assistant")
    expect(typeof choice?.message.content).toBe("string")
    expect(["stop", "length"]).toContain(choice?.finish_reason)
    expect(r.usage?.total_tokens).toBe((r.usage?.prompt_tokens ?? 0) + (r.usage?.completion_tokens ?? 0))
    if (choice?.finish_reason === "length") expect(r.usage?.completion_tokens).toBe(12)
    else expect(r.usage?.completion_tokens).toBeLessThanOrEqual(12)
  })

  it("stream: the same seed gives the same text streamed or not; usage comes last when asked", async () => {
    const request = { model, messages: user("Tell me"), max_tokens: 20, seed: 11, temperature: 1 }
    const whole = await client.chat.completions.create(request)
    const stream = await client.chat.completions.create({
      ...request,
      stream: true,
      stream_options: { include_usage: true },
    })
    let text = ""
    let finish: string | null = null
    let usage: OpenAI.CompletionUsage | null | undefined
    let first = true
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk")
      if (first) expect(chunk.choices[0]?.delta.role).toBe("assistant")
      first = false
      for (const c of chunk.choices) {
        text += c.delta.content ?? ""
        if (c.finish_reason !== null) finish = c.finish_reason
      }
      if (chunk.usage) usage = chunk.usage
    }
    expect(text).toBe(whole.choices[0]?.message.content)
    expect(finish).toBe(whole.choices[0]?.finish_reason)
    expect(usage).toEqual(whole.usage)
  })

  it("n: choices 0..n-1 with their own streams; completion tokens add up", async () => {
    const r = await client.chat.completions.create({ model, messages: user("Hi"), max_tokens: 6, n: 3, seed: 5 })
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2])
    expect(new Set(r.choices.map((c) => c.message.content)).size).toBeGreaterThan(1)
    expect(r.usage?.completion_tokens).toBeLessThanOrEqual(18)
  })

  it("logprobs: greedy picks the top alternative; alternatives are sorted log-probabilities", async () => {
    const r = await client.chat.completions.create({
      model,
      messages: user("Count"),
      max_tokens: 8,
      temperature: 0,
      logprobs: true,
      top_logprobs: 3,
    })
    const entries = r.choices[0]?.logprobs?.content ?? []
    expect(entries.length).toBe(r.usage?.completion_tokens)
    for (const e of entries) {
      expect(e.top_logprobs).toHaveLength(3)
      expect(e.logprob).toBeLessThanOrEqual(0)
      expect(e.logprob).toBeCloseTo(e.top_logprobs[0]?.logprob ?? Number.NaN, 6)
      const tops = e.top_logprobs.map((t) => t.logprob)
      expect([...tops].sort((a, b) => b - a)).toEqual(tops)
      expect(tops.reduce((s, x) => s + Math.exp(x), 0)).toBeLessThanOrEqual(1 + 1e-6)
    }
  })

  it("tools: offered tools lengthen the prompt; a tool-call history (assistant tool_calls + tool result) is accepted", async () => {
    const tools = [
      {
        type: "function" as const,
        function: {
          name: "get_weather",
          description: "Weather of a city",
          parameters: { type: "object", properties: { city: { type: "string" } } },
        },
      },
    ]
    const plain = await client.chat.completions.create({ model, messages: user("Weather?"), max_tokens: 2 })
    const withTools = await client.chat.completions.create({ model, messages: user("Weather?"), tools, max_tokens: 2 })
    expect(withTools.usage?.prompt_tokens).toBeGreaterThan((plain.usage?.prompt_tokens ?? 0) + 100)
    const followUp = await client.chat.completions.create({
      model,
      tools,
      max_tokens: 2,
      messages: [
        { role: "user", content: "Weather in Paris?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: "tool", tool_call_id: "call_1", content: "sunny" },
      ],
    })
    expect(followUp.choices).toHaveLength(1)
    await expect(
      client.chat.completions.create({
        model,
        messages: user("x"),
        tools,
        tool_choice: { type: "function", function: { name: "nope" } },
      }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError)
  })

  it("thinking mode: the answer carries reasoning_content", async () => {
    const r = await client.chat.completions.create({
      model,
      messages: user("Think"),
      max_tokens: 5,
      // @ts-expect-error vLLM/SGLang's extension for DeepSeek's chat template
      chat_template_kwargs: { thinking: true },
    })
    const message = r.choices[0]?.message as unknown as { reasoning_content?: string }
    expect(typeof message.reasoning_content).toBe("string")
  })

  it("completions: text, n per prompt, logprobs; models lists the served model", async () => {
    const r = await client.completions.create({ model, prompt: ["12+34=", "5+6="], max_tokens: 4, logprobs: 2 })
    expect(r.object).toBe("text_completion")
    expect(r.choices).toHaveLength(2)
    let tokens = 0
    for (const c of r.choices) {
      expect(c.logprobs?.tokens?.length).toBe(c.logprobs?.token_logprobs?.length)
      expect(c.logprobs?.top_logprobs?.every((top) => Object.keys(top ?? {}).length <= 2)).toBe(true)
      tokens += c.logprobs?.tokens?.length ?? 0
    }
    expect(tokens).toBe(r.usage?.completion_tokens)
    const models = await client.models.list()
    expect(models.data.map((m) => m.id)).toEqual([model])
  })

  it("errors map to the SDK's classes: 401, 404 unknown model, 400 over the max_tokens cap", async () => {
    const stranger = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "wrong", maxRetries: 0 })
    const denied = stranger.chat.completions.create({ model, messages: user("x") })
    await expect(denied).rejects.toBeInstanceOf(OpenAI.AuthenticationError)
    await expect(client.chat.completions.create({ model: "gpt-9", messages: user("x") })).rejects.toMatchObject({
      status: 404,
      code: "model_not_found",
    })
    await expect(client.chat.completions.create({ model, messages: user("x"), max_tokens: 65 })).rejects.toMatchObject({
      status: 400,
      code: "max_tokens_exceeded",
      param: "max_tokens",
    })
  })
})

describe("/v1/verify", () => {
  it("answers the verifier's analysis with a score in {0, 0.5, 1} or null, parsed by @ds/selfverify", async () => {
    const response = await fetch(`${server.url}/v1/verify`, {
      method: "POST",
      headers: { authorization: "Bearer test-key", "content-type": "application/json" },
      body: JSON.stringify({ problem: "Show 1+1=2.", proof: "By definition.", max_tokens: 16, seed: 1 }),
    })
    expect(response.status).toBe(200)
    const body = (await response.json()) as {
      object: string
      analysis: string
      score: number | null
      format_ok: boolean
    }
    expect(body.object).toBe("verification")
    expect(typeof body.analysis).toBe("string")
    expect([0, 0.5, 1, null]).toContain(body.score)
    // An untrained model writes no key phrases, so the format reward is 0 and says why.
    expect(body.format_ok).toBe(false)
    const bad = await fetch(`${server.url}/v1/verify`, {
      method: "POST",
      headers: { authorization: "Bearer test-key" },
      body: JSON.stringify({ problem: "x" }),
    })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe("proof")
  })
})
