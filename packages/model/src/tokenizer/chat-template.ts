/**
 * DeepSeek-V3.2 chat encoding (docs/model.md §7; HF `DeepSeek-V3.2/encoding/encoding_dsv32.py`, as adapted in
 * SGLang): OpenAI-format messages -> the prompt text, and a completion text -> an assistant message.
 *
 *   BOS system-content
 *   <｜User｜>content<｜Assistant｜> + ( <think> if last user turn and thinking mode, else </think> )
 *   assistant after the last user turn (thinking mode): reasoning </think> content [tool calls] EOS
 *   other assistant turns: content [tool calls] EOS
 *   tool results: \n\n<function_results>\n<result>…</result>…\n</function_results> then \n\n<think> or \n\n</think>
 *
 * Tool calls are the "DSML" block: <｜DSML｜function_calls> with one <｜DSML｜invoke name="…"> per call and one
 * <｜DSML｜parameter name="…" string="true|false">value</｜DSML｜parameter> per argument (strings raw, others JSON).
 * Reasoning of assistant turns before the last user message is dropped in thinking mode.
 */
import { InputError } from "@ds/core"
import { Schema } from "effect"
import { specialTokens } from "./special-tokens.ts"

const dsml = "｜DSML｜"

/** A tool call of an assistant message (OpenAI format; `arguments` a JSON string or an object; docs/model.md §7). */
export const ToolCall = Schema.Struct({
  type: Schema.optionalKey(Schema.Literal("function")),
  id: Schema.optionalKey(Schema.String),
  function: Schema.Struct({
    name: Schema.String,
    arguments: Schema.Union([Schema.String, Schema.Record(Schema.String, Schema.Unknown)]),
  }),
})
export type ToolCall = typeof ToolCall.Type

/** A tool offered to the model (OpenAI format). */
export const ToolDefinition = Schema.Struct({
  type: Schema.optionalKey(Schema.Literal("function")),
  function: Schema.Struct({
    name: Schema.String,
    description: Schema.optionalKey(Schema.String),
    parameters: Schema.optionalKey(Schema.Unknown),
  }),
})
export type ToolDefinition = typeof ToolDefinition.Type

/**
 * One message in OpenAI chat format, as datasets, rollouts and the chat template use it: the schema decodes a
 * JSONL record's `messages`, the type is what `encodeChat` renders. `reasoning_content` is DeepSeek's field for the
 * thinking text; `tools` on a system message offers tools.
 */
export const ChatMessage = Schema.Struct({
  role: Schema.Literals(["system", "developer", "user", "assistant", "tool"]),
  content: Schema.optionalKey(Schema.NullOr(Schema.String)),
  reasoning_content: Schema.optionalKey(Schema.NullOr(Schema.String)),
  tool_calls: Schema.optionalKey(Schema.Array(ToolCall)),
  tools: Schema.optionalKey(Schema.Array(ToolDefinition)),
  response_format: Schema.optionalKey(Schema.Unknown),
  tool_call_id: Schema.optionalKey(Schema.String),
})
export type ChatMessage = typeof ChatMessage.Type

export type ThinkingMode = "chat" | "thinking"

const toolsPreamble = (tools: ReadonlyArray<ToolDefinition>): string =>
  [
    "## Tools",
    "You have access to a set of tools you can use to answer the user's question.",
    `You can invoke functions by writing a "<${dsml}function_calls>" block like the following as part of your reply to the user:`,
    `<${dsml}function_calls>`,
    `<${dsml}invoke name="$FUNCTION_NAME">`,
    `<${dsml}parameter name="$PARAMETER_NAME" string="true|false">$PARAMETER_VALUE</${dsml}parameter>`,
    "...",
    `</${dsml}invoke>`,
    `<${dsml}invoke name="$FUNCTION_NAME2">`,
    "...",
    `</${dsml}invoke>`,
    `</${dsml}function_calls>`,
    'String and scalar parameters should be specified as is without any escaping or quotes, while lists and objects should use JSON format. The "string" attribute should be set to "true" for string type parameters and "false" for other types (numbers, booleans, arrays, objects).',
    "If the thinking_mode is enabled, then after function results you should strongly consider outputting a thinking block. Here is an example:",
    `<${dsml}function_calls>`,
    "...",
    `</${dsml}function_calls>`,
    "<function_results>",
    "...",
    "</function_results>",
    `${specialTokens.thinkStart}...thinking about results${specialTokens.thinkEnd}`,
    "Here are the functions available in JSONSchema format:",
    "<functions>",
    tools.map((t) => JSON.stringify(t.function)).join("\n"),
    "</functions>",
    "",
  ].join("\n")

const responseFormat = (format: unknown): string =>
  `## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n${JSON.stringify(format)}`

const parseArguments = (raw: string | Record<string, unknown>): Record<string, unknown> => {
  const value: unknown = typeof raw === "string" ? JSON.parse(raw) : raw
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new InputError({ source: "chat messages", reason: "a tool call's function.arguments must be a JSON object" })
  return value as Record<string, unknown>
}

const renderToolCalls = (calls: ReadonlyArray<ToolCall>): string => {
  const invokes = calls.map((call) => {
    const params = Object.entries(parseArguments(call.function.arguments)).map(
      ([key, value]) =>
        `<${dsml}parameter name="${key}" string="${typeof value === "string"}">${typeof value === "string" ? value : JSON.stringify(value)}</${dsml}parameter>`,
    )
    return `<${dsml}invoke name="${call.function.name}">\n${params.join("\n")}\n</${dsml}invoke>`
  })
  return `\n\n<${dsml}function_calls>\n${invokes.join("\n")}\n</${dsml}function_calls>`
}

const lastUserIndex = (messages: ReadonlyArray<ChatMessage>): number => {
  for (let i = messages.length - 1; i >= 0; i--)
    if (messages[i]?.role === "user" || messages[i]?.role === "developer") return i
  return -1
}

const turnSuffix = (isLastUser: boolean, mode: ThinkingMode) =>
  isLastUser && mode === "thinking" ? specialTokens.thinkStart : specialTokens.thinkEnd

const renderTool = (
  index: number,
  messages: ReadonlyArray<ChatMessage>,
  mode: ThinkingMode,
  lastUser: number,
): string => {
  let owner = index - 1
  while (owner >= 0 && messages[owner]?.role === "tool") owner--
  const assistant = messages[owner]
  const calls = assistant?.tool_calls ?? []
  const order = index - owner
  if (assistant?.role !== "assistant" || calls.length < order)
    throw new InputError({
      source: "chat messages",
      reason: `tool message ${index} has no matching assistant tool call`,
    })
  let out = order === 1 ? "\n\n<function_results>" : ""
  out += `\n<result>${messages[index]?.content ?? ""}</result>`
  if (order === calls.length) {
    out += "\n</function_results>"
    out += `\n\n${index >= lastUser && mode === "thinking" ? specialTokens.thinkStart : specialTokens.thinkEnd}`
  }
  return out
}

const renderMessage = (index: number, messages: ReadonlyArray<ChatMessage>, mode: ThinkingMode): string => {
  const m = messages[index] as ChatMessage
  const lastUser = lastUserIndex(messages)
  switch (m.role) {
    case "system": {
      let out = m.content ?? ""
      if (m.tools !== undefined && m.tools.length > 0) out += `\n\n${toolsPreamble(m.tools)}`
      if (m.response_format !== undefined) out += `\n\n${responseFormat(m.response_format)}`
      return out
    }
    case "developer": {
      if (!m.content) throw new InputError({ source: "chat messages", reason: `developer message ${index} is empty` })
      let body = ""
      if (m.tools !== undefined && m.tools.length > 0) body += `\n\n${toolsPreamble(m.tools)}`
      if (m.response_format !== undefined) body += `\n\n${responseFormat(m.response_format)}`
      body += `\n\n# The user's message is: ${m.content}`
      return `${specialTokens.user}${body}${specialTokens.assistant}${turnSuffix(index === lastUser, mode)}`
    }
    case "user":
      return `${specialTokens.user}${m.content ?? ""}${specialTokens.assistant}${turnSuffix(index === lastUser, mode)}`
    case "tool":
      return renderTool(index, messages, mode, lastUser)
    case "assistant": {
      const calls = m.tool_calls !== undefined && m.tool_calls.length > 0 ? renderToolCalls(m.tool_calls) : ""
      let reasoning = ""
      if (mode === "thinking" && index > lastUser) {
        if (!m.reasoning_content && calls === "")
          throw new InputError({
            source: "chat messages",
            reason: `assistant message ${index} after the last user turn needs reasoning_content or tool_calls in thinking mode`,
          })
        reasoning = `${m.reasoning_content ?? ""}${specialTokens.thinkEnd}`
      }
      return `${reasoning}${m.content ?? ""}${calls}${specialTokens.eos}`
    }
  }
}

export interface EncodeChatOptions {
  readonly thinking?: ThinkingMode
  /** Start with the BOS token. Default true. */
  readonly addBos?: boolean
}

/** The prompt text for `messages` (DeepSeek-V3.2 encoding). */
export const encodeChat = (messages: ReadonlyArray<ChatMessage>, options: EncodeChatOptions = {}): string => {
  const mode = options.thinking ?? "chat"
  const lastUser = lastUserIndex(messages)
  const visible =
    mode === "thinking"
      ? messages.map((m, i) => (m.role === "assistant" && i < lastUser ? { ...m, reasoning_content: null } : m))
      : messages
  let out = options.addBos === false ? "" : specialTokens.bos
  for (let i = 0; i < visible.length; i++) out += renderMessage(i, visible, mode)
  return out
}

const readUntil = (
  text: string,
  from: number,
  stops: ReadonlyArray<string>,
): { content: string; next: number; stop?: string } => {
  let best = -1
  let stop: string | undefined
  for (const s of stops) {
    const at = text.indexOf(s, from)
    if (at >= 0 && (best < 0 || at < best)) {
      best = at
      stop = s
    }
  }
  return stop === undefined
    ? { content: text.slice(from), next: text.length }
    : { content: text.slice(from, best), next: best + stop.length, stop }
}

const parseError = (reason: string) => new InputError({ source: "model completion", reason })

const parseToolCalls = (text: string, from: number): { calls: Array<ToolCall>; next: number } => {
  const calls: Array<ToolCall> = []
  let at = from
  const end = `</${dsml}function_calls>`
  for (;;) {
    const head = readUntil(text, at, [`<${dsml}invoke`, end])
    if (head.content !== ">\n" || head.stop === undefined) throw parseError("malformed tool-call block")
    at = head.next
    if (head.stop === end) return { calls, next: at }
    let part = readUntil(text, at, [`<${dsml}parameter`, `</${dsml}invoke`])
    // A call without arguments renders as `name="x">\n\n</invoke>` (the reference joins zero parameters).
    const name = /^\s*name="(.*?)">\n\n?$/s.exec(part.content)?.[1]
    if (name === undefined) throw parseError("malformed tool name")
    at = part.next
    const args: Record<string, unknown> = {}
    while (part.stop === `<${dsml}parameter`) {
      const param = readUntil(text, at, [`/${dsml}parameter`])
      const kv = /^ name="(.*?)" string="(true|false)">(.*?)<$/s.exec(param.content)
      if (kv === null) throw parseError("malformed tool parameter")
      const [, key, isString, value] = kv as unknown as [string, string, string, string]
      args[key] = isString === "true" ? value : JSON.parse(value)
      at = param.next
      part = readUntil(text, at, [`<${dsml}parameter`, `</${dsml}invoke`])
      if (part.content !== ">\n") throw parseError("malformed tool parameter end")
      at = part.next
    }
    calls.push({ type: "function", function: { name, arguments: JSON.stringify(args) } })
  }
}

/** Parses generated text (after the prompt) into an assistant message. Throws InputError when malformed. */
export const parseCompletion = (text: string, thinking: ThinkingMode = "chat"): ChatMessage => {
  let at = 0
  let reasoning = ""
  const toolStart = `\n\n<${dsml}function_calls`
  if (thinking === "thinking") {
    const r = readUntil(text, at, [specialTokens.thinkEnd, toolStart])
    if (r.stop !== specialTokens.thinkEnd) throw parseError("thinking block is not closed")
    reasoning = r.content
    at = r.next
  }
  const body = readUntil(text, at, [specialTokens.eos, toolStart])
  at = body.next
  let calls: Array<ToolCall> = []
  if (body.stop === toolStart) {
    const parsed = parseToolCalls(text, at)
    calls = parsed.calls
    const rest = readUntil(text, parsed.next, [specialTokens.eos])
    if (rest.content !== "") throw parseError("unexpected text after the tool calls")
    at = rest.next
  }
  return {
    role: "assistant",
    content: body.content,
    reasoning_content: reasoning,
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
  }
}
