/**
 * `ChatMessage` is one schema for every OpenAI-format message the packages read (datasets, rollouts, prompts):
 * it decodes what `encodeChat` renders, tool calls included, and refuses a message it could not render.
 */
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { ChatMessage, encodeChat } from "../src/index.ts"

const decode = Schema.decodeUnknownSync(Schema.Array(ChatMessage))

describe("ChatMessage", () => {
  it("decodes system/user/assistant/tool turns with reasoning and tool calls, and they render", () => {
    const messages = decode([
      { role: "system", content: "Be brief." },
      { role: "user", content: "2+3?" },
      {
        role: "assistant",
        content: null,
        reasoning_content: "add them",
        tool_calls: [{ type: "function", id: "c1", function: { name: "add", arguments: '{"a":2,"b":3}' } }],
      },
      { role: "tool", tool_call_id: "c1", content: "5" },
    ])
    expect(messages[2]?.tool_calls?.[0]?.function.name).toBe("add")
    expect(encodeChat(messages)).toContain('<｜DSML｜invoke name="add">')
  })

  it("refuses an unknown role and a non-string content", () => {
    expect(() => decode([{ role: "robot", content: "hi" }])).toThrow(/role/)
    expect(() => decode([{ role: "user", content: 3 }])).toThrow(/content/)
  })
})
