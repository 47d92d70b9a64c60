/**
 * Tokens -> OpenAI message parts: the DSML tool-call block the V3.2 template renders parses back into the same
 * OpenAI tool calls; stop strings cut the text; </think> splits reasoning from content; a streamed tail that could
 * still become a marker is held back until it is decided.
 */
import { encodeChat, specialTokens } from "@ds/model"
import { describe, expect, it } from "vitest"
import { parseToolBlock, splitText } from "../src/output.ts"

const plain = { stop: [], thinking: false, tools: false, forcedPrefix: "" }

describe("output", () => {
  it("the template's own tool-call block parses back into the same tool calls", () => {
    const calls = [
      { type: "function" as const, id: "a", function: { name: "get_weather", arguments: '{"city":"Paris","days":3}' } },
      { type: "function" as const, id: "b", function: { name: "search", arguments: '{"q":"x y","filters":["a",1]}' } },
    ]
    const prompt = encodeChat([{ role: "user", content: "hi" }])
    const full = encodeChat([
      { role: "user", content: "hi" },
      { role: "assistant", content: "Let me check.", tool_calls: calls },
    ])
    const completion = full.slice(prompt.length).replace(specialTokens.eos, "")
    const visible = splitText(completion, { ...plain, tools: true }, true)
    expect(visible.content).toBe("Let me check.")
    const parsed = parseToolBlock(visible.content, visible.toolText ?? "")
    expect(parsed?.content).toBe("Let me check.")
    expect(parsed?.calls.map((c) => ({ name: c.name, arguments: JSON.parse(c.arguments) }))).toEqual(
      calls.map((c) => ({ name: c.function.name, arguments: JSON.parse(c.function.arguments) })),
    )
  })

  it("a malformed block is no tool call (its text stays content)", () => {
    expect(parseToolBlock("", "\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=")).toBeUndefined()
  })

  it("stop strings cut the text before the first one, from wherever it starts", () => {
    expect(splitText("abcSTOPdefEND", { ...plain, stop: ["END", "STOP"] }, false)).toMatchObject({
      content: "abc",
      stopped: true,
    })
  })

  it("</think> splits reasoning from content; a partial marker is held back while streaming", () => {
    const thinking = { ...plain, thinking: true }
    expect(splitText("plan</think>answer", thinking, false)).toMatchObject({ reasoning: "plan", content: "answer" })
    expect(splitText("plan</th", thinking, false)).toMatchObject({ reasoning: "plan", content: "" })
    expect(splitText("plan</th", thinking, true)).toMatchObject({ reasoning: "plan</th" })
    expect(splitText("Hello\n\n<｜DS", { ...plain, tools: true }, false).content).toBe("Hello")
    expect(splitText("Hello wor", { ...plain, stop: ["world!"] }, false).content).toBe("Hello ")
  })
})
