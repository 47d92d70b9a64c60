/**
 * A multi-turn tool environment for RL (docs/agentdata.md §11): the model writes tool calls in DeepSeek-V3.2's chat
 * format (DSML `function_calls` blocks, @ds/model's template); the environment parses each turn, runs the calls
 * against an isolated copy of the task's state, and returns the rendered `function_results` block as the next
 * observation. Observations are marked not trainable, so a trainer masks them out of the loss; the verifier gives
 * the reward (1 when the submitted answer and final state pass, else 0). Limits: turns, characters per tool result,
 * characters in all.
 *
 *   prompt  = encodeChat([system + tools, user])
 *   turn k  : completion_k (trainable) -> parse -> run calls -> observation_k (masked)
 *   reward  = verify(answer, final state) ∈ {0, 1}
 *
 * A completion that does not parse ends the episode (reward 0); a call that fails (unknown tool, bad arguments) is
 * an error result the model sees, as during synthesis.
 */
import { type ChatMessage, encodeChat, parseCompletion, type ThinkingMode } from "@ds/model"
import { type Environment, Episode, openAITools, type Task } from "../env/environment.ts"

export interface ToolEnvOptions {
  /** Assistant turns before the episode is cut off. */
  readonly maxTurns?: number
  /** Characters kept of one tool result (the rest is replaced by a marker). */
  readonly maxResultChars?: number
  /** Characters of the whole transcript (prompt, completions, observations) before the episode is cut off. */
  readonly maxTotalChars?: number
  readonly thinking?: ThinkingMode
  /**
   * Render the tools preamble in the system message (default true). Off for a model that learned its tools from
   * SFT and has a short context (the demo's tiny model, docs/agentdata.md §14); an empty system message is then left
   * out.
   */
  readonly listTools?: boolean
}

export interface Segment {
  readonly text: string
  /** Completions are trained on; prompts and tool observations are masked. */
  readonly trainable: boolean
}

export interface StepResult {
  readonly done: boolean
  /** Text to append after the completion (empty when done). */
  readonly observation: string
  readonly reason?: "submitted" | "no-tool-call" | "unparsable" | "max-turns" | "max-chars"
}

export class ToolEnvironment {
  readonly messages: Array<ChatMessage>
  readonly segments: Array<Segment> = []
  private readonly episode: Episode
  private readonly options: Required<ToolEnvOptions>
  turns = 0
  done = false

  constructor(
    readonly env: Environment,
    readonly task: Task,
    options: ToolEnvOptions = {},
  ) {
    this.options = {
      maxTurns: 32,
      maxResultChars: 4000,
      maxTotalChars: 200_000,
      thinking: "chat",
      listTools: true,
      ...options,
    }
    this.episode = new Episode(env)
    const tools = this.options.listTools ? { tools: openAITools(env.tools) as unknown as ChatMessage["tools"] } : {}
    const system =
      this.options.listTools || task.system !== "" ? [{ role: "system", content: task.system, ...tools }] : []
    this.messages = [...system, { role: "user", content: task.prompt }] as Array<ChatMessage>
    this.segments.push({ text: this.prompt(), trainable: false })
  }

  prompt(): string {
    return encodeChat(this.messages, { thinking: this.options.thinking })
  }

  private total(): number {
    return this.segments.reduce((n, s) => n + s.text.length, 0)
  }

  private end(reason: StepResult["reason"]): StepResult {
    this.done = true
    return reason === undefined ? { done: true, observation: "" } : { done: true, observation: "", reason }
  }

  /** One assistant turn: the model's generated text after the current transcript. */
  step(completion: string): StepResult {
    if (this.done) return this.end(undefined)
    this.turns++
    this.segments.push({ text: completion, trainable: true })
    let parsed: ChatMessage
    try {
      parsed = parseCompletion(completion, this.options.thinking)
    } catch {
      return this.end("unparsable")
    }
    this.messages.push(parsed)
    const calls = parsed.tool_calls ?? []
    if (calls.length === 0) return this.end("no-tool-call")
    const before = encodeChat(this.messages, { thinking: this.options.thinking })
    for (const [i, call] of calls.entries()) {
      const args =
        typeof call.function.arguments === "string" ? call.function.arguments : JSON.stringify(call.function.arguments)
      const outcome = this.episode.call(call.function.name, args)
      const content =
        outcome.content.length > this.options.maxResultChars
          ? `${outcome.content.slice(0, this.options.maxResultChars)}… [truncated]`
          : outcome.content
      this.messages.push({ role: "tool", tool_call_id: call.id ?? `call_${this.turns}_${i}`, content } as ChatMessage)
    }
    const observation = encodeChat(this.messages, { thinking: this.options.thinking }).slice(before.length)
    this.segments.push({ text: observation, trainable: false })
    if (this.episode.submitted) return { ...this.end("submitted"), observation }
    if (this.turns >= this.options.maxTurns) return { ...this.end("max-turns"), observation }
    if (this.total() >= this.options.maxTotalChars) return { ...this.end("max-chars"), observation }
    return { done: false, observation }
  }

  /** 1 when the submitted answer and the final state pass the task's verifier, else 0. */
  reward(): number {
    if (!this.episode.submitted) return 0
    return this.task.verify(this.episode.answer, this.episode.db).ok ? 1 : 0
  }

  close(): void {
    this.episode.close()
  }
}

/** The text a model would generate for an assistant message (its tool calls in the V3.2 template). */
export const renderAssistantTurn = (message: ChatMessage, thinking: ThinkingMode = "chat"): string => {
  const user: ChatMessage = { role: "user", content: "" } as ChatMessage
  const head = encodeChat([user], { thinking, addBos: false })
  return encodeChat([user, message], { thinking, addBos: false }).slice(head.length)
}
