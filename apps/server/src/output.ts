/**
 * Sampled tokens -> what OpenAI clients see (docs/server.md §1, §3): text deltas, `reasoning_content`, tool calls,
 * stop strings and log-probabilities.
 *
 *   text       = decode(tokens without BOS/EOS/pad), special tokens such as </think> kept
 *   thinking:  reasoning = text before the first </think>; content = text after it (all reasoning until it appears)
 *   tools:     content from "\n\n<｜DSML｜function_calls" on is the tool-call block of the V3.2 template, parsed by
 *              @ds/model's `parseCompletion` into OpenAI `tool_calls` (raw text as content when it does not parse)
 *   stop:      the text is cut at the first stop string, which is not returned (finish_reason "stop")
 *
 * While streaming, a tail of the text that could still grow into a marker (a stop string, </think>, the tool
 * block) is held back, so no client ever sees text that is later taken back.
 */
import { parseCompletion, specialTokens, type TextTokenizer, type ToolCall } from "@ds/model"
import type { TopLogprob } from "./engine.ts"

export const toolBlockStart = "\n\n<｜DSML｜function_calls"

export interface OutputOptions {
  readonly stop: ReadonlyArray<string>
  readonly thinking: boolean
  /** Look for the DSML tool-call block in the content. */
  readonly tools: boolean
  /** Text the prompt already ends with that belongs to the completion (a forced tool-call opening). */
  readonly forcedPrefix: string
}

export interface Visible {
  readonly reasoning: string
  readonly content: string
  /** The DSML block (from its start marker), when one began. */
  readonly toolText: string | undefined
  readonly stopped: boolean
}

/** Length of the longest suffix of `text` that is a proper prefix of `marker`. */
const partialSuffix = (text: string, marker: string): number => {
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--) if (text.endsWith(marker.slice(0, n))) return n
  return 0
}

export const splitText = (raw: string, options: OutputOptions, final: boolean): Visible => {
  let text = options.forcedPrefix + raw
  let stopped = false
  let cut = -1
  for (const s of options.stop) {
    const at = text.indexOf(s, options.forcedPrefix.length)
    if (at >= 0 && (cut < 0 || at < cut)) cut = at
  }
  if (cut >= 0) {
    text = text.slice(0, cut)
    stopped = true
  }
  const settled = final || stopped
  const hold = (part: string, markers: ReadonlyArray<string>) =>
    settled ? part : part.slice(0, part.length - Math.max(0, ...markers.map((m) => partialSuffix(part, m))))
  let reasoning = ""
  let rest = text
  if (options.thinking) {
    const end = text.indexOf(specialTokens.thinkEnd)
    if (end < 0)
      return {
        reasoning: hold(text, [specialTokens.thinkEnd, ...options.stop]),
        content: "",
        toolText: undefined,
        stopped,
      }
    reasoning = text.slice(0, end)
    rest = text.slice(end + specialTokens.thinkEnd.length)
  }
  if (options.tools) {
    const at = rest.indexOf(toolBlockStart)
    if (at >= 0) return { reasoning, content: rest.slice(0, at), toolText: rest.slice(at), stopped }
    return { reasoning, content: hold(rest, [toolBlockStart, ...options.stop]), toolText: undefined, stopped }
  }
  return { reasoning, content: hold(rest, options.stop), toolText: undefined, stopped }
}

export interface ParsedTools {
  readonly content: string
  readonly calls: ReadonlyArray<{ readonly name: string; readonly arguments: string }>
}

/** The DSML block -> tool calls; undefined when it does not parse (the text is then returned as content). */
export const parseToolBlock = (content: string, toolText: string): ParsedTools | undefined => {
  try {
    const message = parseCompletion(
      `${content}${toolText}${toolText.includes(specialTokens.eos) ? "" : specialTokens.eos}`,
    )
    const calls = (message.tool_calls ?? []).map((c: ToolCall) => ({
      name: c.function.name,
      arguments: typeof c.function.arguments === "string" ? c.function.arguments : JSON.stringify(c.function.arguments),
    }))
    return calls.length === 0 ? undefined : { content: message.content ?? "", calls }
  } catch {
    return undefined
  }
}

/** Decodes a growing token list; ids of BOS, EOS and padding are dropped, other special tokens kept. */
export const makeDecoder = (tokenizer: TextTokenizer) => {
  const hidden = new Set([tokenizer.bosId, tokenizer.eosId, tokenizer.padId].filter((x) => x !== undefined))
  const ids: Array<number> = []
  let text = ""
  return {
    push: (id: number): string => {
      if (!hidden.has(id)) ids.push(id)
      const decoded = tokenizer.decode(ids)
      // A UTF-8 sequence split across tokens decodes to U+FFFD until its last byte arrives.
      if (!decoded.endsWith("\uFFFD")) text = decoded
      return text
    },
    text: () => text,
  }
}

export interface LogprobEntry {
  readonly token: string
  readonly logprob: number
  readonly bytes: Array<number>
  readonly top_logprobs: Array<{ token: string; logprob: number; bytes: Array<number> }>
}

const bytesOf = (s: string): Array<number> => [...Buffer.from(s, "utf8")]

/** One token's entry of OpenAI chat `logprobs.content`. */
export const logprobEntry = (
  tokenizer: TextTokenizer,
  token: number,
  logprob: number,
  top: ReadonlyArray<TopLogprob>,
): LogprobEntry => {
  const text = tokenizer.decode([token])
  return {
    token: text,
    logprob,
    bytes: bytesOf(text),
    top_logprobs: top.map((t) => {
      const s = tokenizer.decode([t.token])
      return { token: s, logprob: t.logprob, bytes: bytesOf(s) }
    }),
  }
}
