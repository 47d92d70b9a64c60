/**
 * Oracle rollouts and the records they become (docs/agentdata.md §6).
 *
 * A record is one line of OpenAI chat JSONL: `messages` (system, user, then one assistant turn per tool call with
 * `tool_calls`, each followed by its `tool` result, then a closing assistant message), `tools` (OpenAI function
 * definitions), and `metadata` (ids, category, domain, difficulty, the spec that rebuilds the environment, the
 * verifier's result, the hash of the final state). The same record is the SFT pair (prompt + oracle trajectory)
 * and the RL task (prompt + environment + checker).
 */
import { Schema } from "effect"
import { type Environment, Episode, openAITools, type Task } from "../env/environment.ts"

export const ToolCallSchema = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("function"),
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String }),
})

export const MessageSchema = Schema.Union([
  Schema.Struct({ role: Schema.Literal("system"), content: Schema.String }),
  Schema.Struct({ role: Schema.Literal("user"), content: Schema.String }),
  Schema.Struct({
    role: Schema.Literal("assistant"),
    content: Schema.NullOr(Schema.String),
    tool_calls: Schema.optional(Schema.Array(ToolCallSchema)),
  }),
  Schema.Struct({ role: Schema.Literal("tool"), tool_call_id: Schema.String, content: Schema.String }),
])
export type Message = typeof MessageSchema.Type

/** What rebuilds a record's environment and task: the synthesis unit it came from. */
export const UnitSpecSchema = Schema.Struct({
  seed: Schema.Int,
  category: Schema.Literals(["general", "code-interpreter", "search", "code"]),
  unit: Schema.Int,
  tasks: Schema.Int,
})
export type UnitSpec = typeof UnitSpecSchema.Type

const JsonSchemaShape = Schema.Record(Schema.String, Schema.Unknown)

export const TaskRecordSchema = Schema.Struct({
  messages: Schema.Array(MessageSchema),
  tools: Schema.Array(
    Schema.Struct({
      type: Schema.Literal("function"),
      function: Schema.Struct({ name: Schema.String, description: Schema.String, parameters: JsonSchemaShape }),
    }),
  ),
  metadata: Schema.Struct({
    id: Schema.String,
    env_id: Schema.String,
    category: Schema.Literals(["general", "code-interpreter", "search", "code"]),
    domain: Schema.String,
    level: Schema.Int,
    difficulty: Schema.Literals(["easy", "medium", "hard"]),
    spec: UnitSpecSchema,
    verifier: Schema.Struct({ passed: Schema.Boolean, failures: Schema.Array(Schema.String) }),
    final_state_sha256: Schema.String,
    answer: Schema.Unknown,
    /** Written by the pass@k filter (`synth --pass-k K`): passes of K solver attempts; rate = difficulty. */
    pass_at_k: Schema.optionalKey(Schema.Struct({ k: Schema.Int, passes: Schema.Int, rate: Schema.Finite })),
  }),
})
export type TaskRecord = typeof TaskRecordSchema.Type

export const difficultyOf = (level: number): "easy" | "medium" | "hard" =>
  level <= 1 ? "easy" : level === 2 ? "medium" : "hard"

/** Thrown when an oracle's tool call fails: the synthesizer treats it as a rejected draft. */
export class OracleError extends Error {}

/**
 * Runs a task's oracle on a fresh copy of its environment, recording the trajectory, then runs the verifier on the
 * submitted answer and the final state.
 */
export const oracleRecord = (env: Environment, task: Task, spec: UnitSpec): TaskRecord => {
  const episode = new Episode(env)
  const messages: Array<Message> = [
    { role: "system", content: task.system },
    { role: "user", content: task.prompt },
  ]
  try {
    let n = 0
    task.solve((name, args) => {
      const id = `call_${n++}`
      const argumentsJson = JSON.stringify(args)
      const outcome = episode.call(name, argumentsJson)
      messages.push({
        role: "assistant",
        content: null,
        tool_calls: [{ id, type: "function", function: { name, arguments: argumentsJson } }],
      })
      messages.push({ role: "tool", tool_call_id: id, content: outcome.content })
      if (!outcome.ok) throw new OracleError(`oracle call ${name} failed: ${outcome.content}`)
      return outcome.value
    })
    if (!episode.submitted) throw new OracleError("oracle did not submit an answer")
    messages.push({ role: "assistant", content: closing(episode.answer) })
    const result = task.verify(episode.answer, episode.db)
    return {
      messages,
      tools: openAITools(env.tools) as unknown as TaskRecord["tools"],
      metadata: {
        id: task.id,
        env_id: env.id,
        category: task.category,
        domain: task.domain,
        level: task.level,
        difficulty: difficultyOf(task.level),
        spec,
        verifier: { passed: result.ok, failures: [...result.failures] },
        final_state_sha256: episode.stateHash(),
        answer: episode.answer ?? null,
      },
    }
  } finally {
    episode.close()
  }
}

const closing = (answer: unknown): string =>
  `I have submitted the result: ${typeof answer === "string" ? answer : JSON.stringify(answer)}`

/** The oracle record, or undefined when the oracle fails (a rejected draft). */
export const tryOracle = (env: Environment, task: Task, spec: UnitSpec): TaskRecord | undefined => {
  try {
    return oracleRecord(env, task, spec)
  } catch (error) {
    if (error instanceof OracleError) return undefined
    throw error
  }
}
