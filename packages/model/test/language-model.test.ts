import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { initBackend } from "@ds/core"
import { expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Stream } from "effect"
import { LanguageModel, Prompt } from "effect/ai"
import { afterAll, beforeAll, describe } from "vitest"
import { saveCheckpoint } from "../src/checkpoint.ts"
import { decodeModelConfig } from "../src/config.ts"
import { localLanguageModelLayer, toChatMessages } from "../src/language-model.ts"
import { disposeParameters, initParameters } from "../src/params.ts"
import { tinyPreset } from "../src/presets.ts"
import { generateProgram, generateText } from "../src/programs/generate-program.ts"
import { encodeChat } from "../src/tokenizer/chat-template.ts"
import { byteTokenizer } from "../src/tokenizer/tokenizer.ts"

const root = mkdtempSync(join(tmpdir(), "ds-model-lm-"))
const dir = join(root, "ckpt")
const tokenizer = byteTokenizer()
const config = decodeModelConfig({
  ...tinyPreset,
  vocab_size: tokenizer.vocabSize,
  dim: 32,
  inter_dim: 32,
  moe_inter_dim: 16,
  n_heads: 2,
  max_seq_len: 256,
})
const params = initParameters(config, 11)

beforeAll(async () => {
  await initBackend("wasm")
  for (const [name, p] of params) if (name.endsWith(".weight") && p.rank === 2) p.assign(tf.mul(p, 3))
  await Effect.runPromise(saveCheckpoint(dir, { config, params, tokenizer }))
})

afterAll(() => {
  disposeParameters(params)
  rmSync(root, { recursive: true, force: true })
})

describe("effect/ai LanguageModel over a local checkpoint", () => {
  const options = { temperature: 0, maxNewTokens: 12 }

  it.effect("generateText returns what the model generates for the chat-templated prompt, with token usage", () =>
    Effect.gen(function* () {
      const expected = generateText({ config, params }, tokenizer, { prompt: "Say hi", ...options })
      const response = yield* LanguageModel.generateText({ prompt: "Say hi" }).pipe(
        Effect.provide(localLanguageModelLayer(dir, options)),
      )
      expect(response.text).toBe(expected.text)
      expect(response.usage.outputTokens.total).toBe(expected.completionTokens)
      expect(response.usage.inputTokens.total).toBe(expected.promptTokens)
      expect(["stop", "length"]).toContain(response.finishReason)
    }),
  )

  it.effect("streamText delivers the same text as deltas, then a finish part", () =>
    Effect.gen(function* () {
      const expected = generateText({ config, params }, tokenizer, { prompt: "Say hi", ...options })
      const parts = yield* Stream.runCollect(LanguageModel.streamText({ prompt: "Say hi" })).pipe(
        Effect.provide(localLanguageModelLayer(dir, options)),
      )
      const list = [...parts]
      const text = list.map((p) => (p.type === "text-delta" ? p.delta : "")).join("")
      expect(text).toBe(expected.text)
      expect(list[list.length - 1]?.type).toBe("finish")
    }),
  )

  it("a prompt with tool calls and results renders as DeepSeek's DSML turns", () => {
    const prompt = Prompt.make([
      { role: "system", content: "Use tools." },
      { role: "user", content: "What is 2+3?" },
      { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "add", params: { a: 2, b: 3 } }] },
      { role: "tool", content: [{ type: "tool-result", id: "c1", name: "add", isFailure: false, result: 5 }] },
    ])
    const text = encodeChat(
      toChatMessages(prompt, [
        { type: "function", function: { name: "add", description: "adds", parameters: { type: "object" } } },
      ]),
    )
    expect(text.startsWith("<｜begin▁of▁sentence｜>Use tools.\n\n## Tools")).toBe(true)
    expect(text).toContain('{"name":"add","description":"adds","parameters":{"type":"object"}}')
    expect(text).toContain('<｜DSML｜parameter name="a" string="false">2</｜DSML｜parameter>')
    expect(text.endsWith("<function_results>\n<result>5</result>\n</function_results>\n\n</think>")).toBe(true)
  })

  it.effect("generateProgram streams exactly the text it returns, and a stop string ends the text before it", () =>
    Effect.gen(function* () {
      const pieces: Array<string> = []
      const result = yield* generateProgram({
        checkpoint: dir,
        prompt: "Say hi",
        temperature: 0,
        maxNewTokens: 12,
        onText: (d) => pieces.push(d),
      })
      expect(pieces.join("")).toBe(result.text)
      expect(result.completionTokens).toBeGreaterThan(0)
      const chars = Array.from(result.text)
      expect(chars.length).toBeGreaterThanOrEqual(4)
      const stop = chars.slice(2, 4).join("")
      const cut = yield* generateProgram({
        checkpoint: dir,
        prompt: "Say hi",
        temperature: 0,
        maxNewTokens: 12,
        stop: [stop],
      })
      expect(cut.text).toBe(result.text.slice(0, result.text.indexOf(stop)))
      expect(cut.finishReason).toBe("stop")
    }),
  )
})
