/**
 * OpenAI request bodies -> checked, typed requests (docs/server.md §1, §4). Each field is checked by hand, so a
 * bad field gets OpenAI's answer exactly: status 400, `type: "invalid_request_error"`, `param` naming the field
 * (`messages[2].role`), and a message that says what was expected. Unknown fields are ignored, as OpenAI does.
 */
import type { ChatMessage, ToolCall, ToolDefinition } from "@ds/model"
import { type ApiError, invalidRequest } from "./errors.ts"

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)

const describe = (v: unknown): string =>
  v === null
    ? "null"
    : Array.isArray(v)
      ? "an array"
      : typeof v === "object"
        ? "an object"
        : `${typeof v} ${JSON.stringify(v)}`

class Fail {
  constructor(readonly error: ApiError) {}
}

const fail = (param: string, expected: string, got: unknown): never => {
  throw new Fail(invalidRequest(`Invalid value for '${param}': expected ${expected}, got ${describe(got)}.`, param))
}

const optionalNumber = (
  body: Json,
  name: string,
  range: { readonly min: number; readonly max: number; readonly integer?: boolean },
): number | undefined => {
  const v = body[name]
  if (v === undefined || v === null) return undefined
  const kind = range.integer === true ? "an integer" : "a number"
  if (typeof v !== "number" || !Number.isFinite(v) || (range.integer === true && !Number.isInteger(v)))
    fail(name, `${kind} between ${range.min} and ${range.max}`, v)
  if ((v as number) < range.min || (v as number) > range.max)
    fail(name, `${kind} between ${range.min} and ${range.max}`, v)
  return v as number
}

const optionalBoolean = (body: Json, name: string): boolean | undefined => {
  const v = body[name]
  if (v === undefined || v === null) return undefined
  if (typeof v !== "boolean") fail(name, "a boolean", v)
  return v as boolean
}

const stopList = (body: Json): Array<string> => {
  const v = body.stop
  if (v === undefined || v === null) return []
  if (typeof v === "string") return v === "" ? [] : [v]
  if (!Array.isArray(v) || v.length > 4 || v.some((s) => typeof s !== "string"))
    fail("stop", "a string or an array of at most 4 strings", v)
  return (v as Array<string>).filter((s) => s !== "")
}

/** What both endpoints share: sampling, limits, stop strings, logprobs, streaming. */
export interface SamplingRequest {
  readonly model: string
  readonly n: number
  readonly temperature: number
  readonly topP: number
  readonly topK: number
  readonly maxTokens: number | undefined
  readonly stop: ReadonlyArray<string>
  readonly seed: number | undefined
  /** Undefined: no logprobs; else the count of alternatives per token. */
  readonly topLogprobs: number | undefined
  readonly stream: boolean
  readonly includeUsage: boolean
  /** vLLM's `ignore_eos`: keep sampling past EOS until max_tokens (benchmarks). */
  readonly ignoreEos: boolean
}

export type ToolChoice = "none" | "auto" | "required" | { readonly name: string }

export interface ChatRequest extends SamplingRequest {
  readonly messages: Array<ChatMessage>
  readonly tools: Array<ToolDefinition>
  readonly toolChoice: ToolChoice
  readonly thinking: boolean
}

export interface CompletionRequest extends SamplingRequest {
  /** Text prompts, or token-id prompts. */
  readonly prompts: Array<string | Array<number>>
}

const samplingFields = (body: Json, maxTokensCap: number, logprobs: "chat" | "completions"): SamplingRequest => {
  const model = body.model
  if (typeof model !== "string" || model === "") fail("model", "the name of a served model (GET /v1/models)", model)
  const maxTokens =
    optionalNumber(body, "max_completion_tokens", { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true }) ??
    optionalNumber(body, "max_tokens", { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true })
  if (maxTokens !== undefined && maxTokens > maxTokensCap)
    throw new Fail(
      invalidRequest(
        `max_tokens is ${maxTokens}, over this server's limit of ${maxTokensCap} tokens per completion.`,
        body.max_completion_tokens === undefined ? "max_tokens" : "max_completion_tokens",
        "max_tokens_exceeded",
      ),
    )
  let topLogprobs: number | undefined
  if (logprobs === "chat") {
    const enabled = optionalBoolean(body, "logprobs") ?? false
    const top = optionalNumber(body, "top_logprobs", { min: 0, max: 20, integer: true })
    if (top !== undefined && !enabled)
      throw new Fail(invalidRequest("top_logprobs needs logprobs: true.", "top_logprobs"))
    topLogprobs = enabled ? (top ?? 0) : undefined
  } else topLogprobs = optionalNumber(body, "logprobs", { min: 0, max: 5, integer: true })
  const stream = optionalBoolean(body, "stream") ?? false
  const options = body.stream_options
  if (options !== undefined && options !== null && !isObject(options)) fail("stream_options", "an object", options)
  const includeUsage = isObject(options) && options.include_usage === true
  const topK = optionalNumber(body, "top_k", { min: -1, max: Number.MAX_SAFE_INTEGER, integer: true }) ?? 0
  return {
    model: model as string,
    n: optionalNumber(body, "n", { min: 1, max: 16, integer: true }) ?? 1,
    temperature: optionalNumber(body, "temperature", { min: 0, max: 2 }) ?? 1,
    topP: optionalNumber(body, "top_p", { min: 0, max: 1 }) ?? 1,
    topK: Math.max(topK, 0),
    maxTokens,
    stop: stopList(body),
    seed: optionalNumber(body, "seed", { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true }),
    topLogprobs,
    stream,
    includeUsage,
    ignoreEos: optionalBoolean(body, "ignore_eos") ?? false,
  }
}

const textContent = (content: unknown, param: string): string | null => {
  if (content === undefined || content === null) return null
  if (typeof content === "string") return content
  if (Array.isArray(content))
    return content
      .map((part, i) => {
        if (!isObject(part) || part.type !== "text" || typeof part.text !== "string")
          return fail(`${param}[${i}]`, 'a text part {"type": "text", "text": "..."}', part)
        return part.text
      })
      .join("")
  return fail(param, "a string or an array of text parts", content)
}

const toolCalls = (v: unknown, param: string): Array<ToolCall> | undefined => {
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v)) return fail(param, "an array of tool calls", v)
  return v.map((call, i) => {
    const p = `${param}[${i}]`
    if (!isObject(call) || !isObject(call.function) || typeof call.function.name !== "string")
      return fail(p, 'a tool call {"type": "function", "function": {"name", "arguments"}}', call)
    const args = call.function.arguments
    if (typeof args !== "string") return fail(`${p}.function.arguments`, "a JSON string", args)
    try {
      const parsed: unknown = JSON.parse(args)
      if (!isObject(parsed)) throw new Error("not an object")
    } catch {
      fail(`${p}.function.arguments`, "a JSON object in a string", args)
    }
    return {
      type: "function" as const,
      ...(typeof call.id === "string" ? { id: call.id } : {}),
      function: { name: call.function.name, arguments: args },
    }
  })
}

const roles = new Set(["system", "developer", "user", "assistant", "tool"])

const messagesOf = (v: unknown): Array<ChatMessage> => {
  if (!Array.isArray(v) || v.length === 0) return fail("messages", "a non-empty array of messages", v)
  return v.map((m, i): ChatMessage => {
    const param = `messages[${i}]`
    if (!isObject(m)) return fail(param, "a message object", m)
    if (typeof m.role !== "string" || !roles.has(m.role))
      return fail(`${param}.role`, "one of system, developer, user, assistant, tool", m.role)
    const role = m.role as ChatMessage["role"]
    const content = textContent(m.content, `${param}.content`)
    const calls = role === "assistant" ? toolCalls(m.tool_calls, `${param}.tool_calls`) : undefined
    if (role !== "assistant" && content === null) return fail(`${param}.content`, "a string", m.content)
    if (role === "tool" && typeof m.tool_call_id !== "string")
      return fail(`${param}.tool_call_id`, "the id of the tool call this message answers", m.tool_call_id)
    const reasoning = m.reasoning_content
    return {
      role,
      content,
      ...(calls === undefined ? {} : { tool_calls: calls }),
      ...(typeof reasoning === "string" ? { reasoning_content: reasoning } : {}),
      ...(typeof m.tool_call_id === "string" ? { tool_call_id: m.tool_call_id } : {}),
    }
  })
}

const toolsOf = (v: unknown): Array<ToolDefinition> => {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) return fail("tools", "an array of function tools", v)
  return v.map((t, i) => {
    if (!isObject(t) || t.type !== "function" || !isObject(t.function) || typeof t.function.name !== "string")
      return fail(`tools[${i}]`, 'a tool {"type": "function", "function": {"name", "description", "parameters"}}', t)
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(t.function.name))
      return fail(`tools[${i}].function.name`, "a name of 1-64 letters, digits, _ or -", t.function.name)
    return {
      type: "function" as const,
      function: {
        name: t.function.name,
        ...(typeof t.function.description === "string" ? { description: t.function.description } : {}),
        ...(t.function.parameters === undefined ? {} : { parameters: t.function.parameters }),
      },
    }
  })
}

const toolChoiceOf = (v: unknown, tools: ReadonlyArray<ToolDefinition>): ToolChoice => {
  if (v === undefined || v === null) return tools.length > 0 ? "auto" : "none"
  if (v === "none" || v === "auto" || v === "required") {
    if (v !== "none" && tools.length === 0)
      throw new Fail(invalidRequest(`tool_choice "${v}" needs at least one tool in 'tools'.`, "tool_choice"))
    return v
  }
  if (isObject(v) && v.type === "function" && isObject(v.function) && typeof v.function.name === "string") {
    const name = v.function.name
    if (!tools.some((t) => t.function.name === name))
      throw new Fail(invalidRequest(`tool_choice names '${name}', which is not in 'tools'.`, "tool_choice"))
    return { name }
  }
  return fail("tool_choice", '"none", "auto", "required" or {"type": "function", "function": {"name"}}', v)
}

/** The body as a JSON object, or a 400. */
const objectBody = (body: unknown): Json => (isObject(body) ? body : fail("body", "a JSON object", body))

const run = <A>(
  f: () => A,
): { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: ApiError } => {
  try {
    return { ok: true, value: f() }
  } catch (e) {
    if (e instanceof Fail) return { ok: false, error: e.error }
    throw e
  }
}

export const parseChatRequest = (body: unknown, maxTokensCap: number) =>
  run((): ChatRequest => {
    const json = objectBody(body)
    const sampling = samplingFields(json, maxTokensCap, "chat")
    const messages = messagesOf(json.messages)
    const tools = toolsOf(json.tools)
    const toolChoice = toolChoiceOf(json.tool_choice, tools)
    const kwargs = json.chat_template_kwargs
    if (kwargs !== undefined && kwargs !== null && !isObject(kwargs)) fail("chat_template_kwargs", "an object", kwargs)
    const thinking = isObject(kwargs) && (kwargs.thinking === true || kwargs.enable_thinking === true)
    return { ...sampling, messages, tools, toolChoice, thinking }
  })

export const parseCompletionRequest = (body: unknown, maxTokensCap: number) =>
  run((): CompletionRequest => {
    const json = objectBody(body)
    const sampling = samplingFields(json, maxTokensCap, "completions")
    if (json.echo === true) fail("echo", "false (echo is not supported)", json.echo)
    const p = json.prompt
    const isIds = (x: unknown): x is Array<number> =>
      Array.isArray(x) && x.length > 0 && x.every((t) => typeof t === "number" && Number.isInteger(t) && t >= 0)
    let prompts: Array<string | Array<number>>
    if (typeof p === "string") prompts = [p]
    else if (isIds(p)) prompts = [p]
    else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === "string" || isIds(x)))
      prompts = p as Array<string | Array<number>>
    else return fail("prompt", "a string, an array of strings, or an array of token ids", p)
    return { ...sampling, prompts }
  })
