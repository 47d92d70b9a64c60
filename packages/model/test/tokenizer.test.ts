import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type ChatMessage, encodeChat, parseCompletion } from "../src/tokenizer/chat-template.ts"
import { specialTokens } from "../src/tokenizer/special-tokens.ts"
import { byteTokenizer, streamingDecoder, tokenizerFromJson, trainTokenizer } from "../src/tokenizer/tokenizer.ts"

const corpus = [
  "the quick brown fox jumps over the lazy dog. the dog sleeps.",
  "12+34=46\n7+8=15\nthe sum of 120 and 5 is 125",
  "héllo wörld — naïve café, 你好世界 🙂",
]

describe("byte-level BPE", () => {
  const tokenizer = trainTokenizer(corpus, { vocabSize: 320, minFrequency: 2 })

  it("decode(encode(text)) = text for any unicode text, special tokens included", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 40 }),
        fc.constantFrom("", specialTokens.user, specialTokens.eos),
        (text, special) => {
          const s = `${special}${text}${special}`
          expect(tokenizer.decode(tokenizer.encode(s))).toBe(s)
        },
      ),
      { numRuns: 200 },
    )
  })

  it("learns merges: frequent words become fewer tokens than their bytes; digits stay single tokens", () => {
    expect(tokenizer.encode("the").length).toBe(1)
    expect(tokenizer.encode(" dog").length).toBeLessThan(4)
    expect(tokenizer.encode("125").length).toBe(3)
    expect(tokenizer.vocabSize).toBeGreaterThan(256 + 7)
  })

  it("special tokens get one id each; the trained tokenizer round-trips through its tokenizer.json", () => {
    const ids = tokenizer.encode(`${specialTokens.user}hi${specialTokens.assistant}`)
    expect(ids[0]).toBe(tokenizer.tokenId(specialTokens.user))
    expect(ids[ids.length - 1]).toBe(tokenizer.tokenId(specialTokens.assistant))
    const reloaded = tokenizerFromJson(JSON.parse(JSON.stringify(tokenizer.json)))
    expect(reloaded.encode(corpus[2] as string)).toEqual(tokenizer.encode(corpus[2] as string))
  })

  it("training is deterministic", () => {
    const again = trainTokenizer(corpus, { vocabSize: 320, minFrequency: 2 })
    expect(JSON.stringify(again.json)).toBe(JSON.stringify(tokenizer.json))
  })

  it("the byte tokenizer maps each UTF-8 byte to its own id", () => {
    const bytes = byteTokenizer()
    expect(bytes.encode("A1")).toEqual([65, 49])
    expect(bytes.encode("é")).toEqual([0xc3, 0xa9])
  })

  it("streaming decode emits exactly the text, never a broken UTF-8 character", () => {
    const bytes = byteTokenizer()
    const text = "añ你🙂!"
    const next = streamingDecoder(bytes)
    const pieces = bytes.encode(text).map(next)
    expect(pieces.join("")).toBe(text)
    expect(pieces.some((p) => p.includes("\uFFFD"))).toBe(false)
  })
})

describe("DeepSeek-V3.2 chat template", () => {
  it("renders system, user and assistant turns as encoding_dsv32 does (chat mode)", () => {
    const messages: Array<ChatMessage> = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello!" },
      { role: "user", content: "2+2?" },
    ]
    expect(encodeChat(messages)).toBe(
      "<｜begin▁of▁sentence｜>Be brief.<｜User｜>Hi<｜Assistant｜></think>Hello!<｜end▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜></think>",
    )
  })

  it("thinking mode opens <think> after the last user turn only and drops earlier reasoning", () => {
    const messages: Array<ChatMessage> = [
      { role: "user", content: "a" },
      { role: "assistant", content: "b", reasoning_content: "old thoughts" },
      { role: "user", content: "c" },
      { role: "assistant", content: "d", reasoning_content: "new thoughts" },
    ]
    expect(encodeChat(messages, { thinking: "thinking" })).toBe(
      "<｜begin▁of▁sentence｜><｜User｜>a<｜Assistant｜></think>b<｜end▁of▁sentence｜><｜User｜>c<｜Assistant｜><think>new thoughts</think>d<｜end▁of▁sentence｜>",
    )
  })

  it("tool calls render as a DSML block, tool results as function_results, and parse back", () => {
    const call = {
      type: "function" as const,
      function: { name: "add", arguments: JSON.stringify({ a: 1, note: "x" }) },
    }
    const messages: Array<ChatMessage> = [
      { role: "user", content: "add" },
      { role: "assistant", content: "", tool_calls: [call] },
      { role: "tool", content: "3" },
    ]
    const text = encodeChat(messages)
    expect(text).toContain(
      '<｜DSML｜invoke name="add">\n<｜DSML｜parameter name="a" string="false">1</｜DSML｜parameter>\n<｜DSML｜parameter name="note" string="true">x</｜DSML｜parameter>\n</｜DSML｜invoke>',
    )
    expect(text.endsWith("\n\n<function_results>\n<result>3</result>\n</function_results>\n\n</think>")).toBe(true)
    const completion = `Sure${'\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name="add">\n<｜DSML｜parameter name="a" string="false">1</｜DSML｜parameter>\n<｜DSML｜parameter name="note" string="true">x</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>'}<｜end▁of▁sentence｜>`
    const parsed = parseCompletion(completion)
    expect(parsed.content).toBe("Sure")
    expect(parsed.tool_calls?.[0]?.function.name).toBe("add")
    expect(JSON.parse(parsed.tool_calls?.[0]?.function.arguments as string)).toEqual({ a: 1, note: "x" })
  })

  it("a tool call without arguments round-trips through render and parse", () => {
    const calls = [
      { type: "function" as const, function: { name: "list_recipes", arguments: "{}" } },
      { type: "function" as const, function: { name: "price", arguments: JSON.stringify({ code: "K7" }) } },
    ]
    const text = encodeChat([
      { role: "user", content: "go" },
      { role: "assistant", content: "", tool_calls: calls },
    ])
    const block = text.slice(text.indexOf("\n\n<｜DSML｜function_calls>"), text.lastIndexOf("<｜end▁of▁sentence｜>"))
    expect(block).toContain('<｜DSML｜invoke name="list_recipes">\n\n</｜DSML｜invoke>')
    const parsed = parseCompletion(`${block}<｜end▁of▁sentence｜>`)
    expect(parsed.tool_calls?.map((c) => [c.function.name, JSON.parse(c.function.arguments as string)])).toEqual([
      ["list_recipes", {}],
      ["price", { code: "K7" }],
    ])
  })

  it("parses reasoning and content of a thinking-mode completion", () => {
    expect(parseCompletion("let me see</think>4<｜end▁of▁sentence｜>", "thinking")).toEqual({
      role: "assistant",
      content: "4",
      reasoning_content: "let me see",
    })
  })
})
