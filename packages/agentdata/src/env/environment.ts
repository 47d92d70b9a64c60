/**
 * Environments, tools, tasks and episodes (docs/agentdata.md §2).
 *
 * An environment is a pristine SQLite image plus a toolset: OpenAI function definitions whose implementations are
 * the only access to the state. A task is a prompt over an environment with a hidden oracle solution (tool calls
 * plus pure logic, written against `call`, never against the database) and a verifier (a constraint check on the
 * submitted answer and, where tools write, on the final state). An episode is one rollout: its own copy of the
 * state, tool calls in, tool results out. A malformed call (unknown tool, bad JSON, arguments that fail the schema,
 * a tool that refuses) becomes an error message returned as the tool result, never an exception.
 */
import { createHash } from "node:crypto"
import { type JsonSchema, validate } from "./json-schema.ts"
import { runSandboxed, type SandboxResult } from "./sandbox.ts"
import { Db } from "./sqlite.ts"

export const categories = ["general", "code-interpreter", "search", "code"] as const
export type Category = (typeof categories)[number]

export interface ToolContext {
  readonly db: Db
  /** Records the final answer of the episode (the submit tool's job). */
  readonly submit: (answer: unknown) => void
  /** Runs untrusted code in the QuickJS sandbox. */
  readonly sandbox: (code: string) => SandboxResult
}

/** Arguments after JSON-Schema validation: the schema, not TypeScript, guarantees their shape. */
// biome-ignore lint/suspicious/noExplicitAny: tool arguments are validated at run time against the JSON Schema.
export type ToolArgs = { readonly [name: string]: any }

export interface ToolSpec {
  readonly name: string
  readonly description: string
  readonly parameters: JsonSchema
  readonly run: (ctx: ToolContext, args: ToolArgs) => unknown
}

/** A refusal by a tool (bad id, rule broken): becomes `{"error": message}` for the model. */
export class ToolRefusal extends Error {}

export const refuse = (message: string): never => {
  throw new ToolRefusal(message)
}

export interface Environment {
  readonly id: string
  readonly category: Category
  readonly domain: string
  /** The pristine state: SQLite file bytes. */
  readonly image: Uint8Array
  readonly tools: ReadonlyArray<ToolSpec>
}

export interface Verdict {
  readonly ok: boolean
  readonly failures: ReadonlyArray<string>
}

/** Calls a tool from an oracle solution: returns the parsed result, throws on a tool error (an oracle bug). */
export type OracleCall = (name: string, args: Record<string, unknown>) => unknown

export interface Task {
  readonly id: string
  readonly envId: string
  readonly category: Category
  readonly domain: string
  /** 1 = the easy seed task; each escalation step adds one. */
  readonly level: number
  readonly system: string
  readonly prompt: string
  /** The hidden oracle: must end with the submit tool. */
  readonly solve: (call: OracleCall) => void
  /** Checks the submitted answer and the final state. */
  readonly verify: (answer: unknown, state: Db) => Verdict
}

export interface OpenAITool {
  readonly type: "function"
  readonly function: { readonly name: string; readonly description: string; readonly parameters: JsonSchema }
}

export const openAITools = (tools: ReadonlyArray<ToolSpec>): Array<OpenAITool> =>
  tools.map((tool) => ({
    type: "function",
    function: { name: tool.name, description: tool.description, parameters: tool.parameters },
  }))

export interface ToolOutcome {
  readonly ok: boolean
  /** The tool message content: the result as JSON, or `{"error": ...}`. */
  readonly content: string
  readonly value: unknown
}

const errorOutcome = (message: string): ToolOutcome => ({
  ok: false,
  content: JSON.stringify({ error: message }),
  value: undefined,
})

export const verdict = (failures: Array<string>): Verdict => ({ ok: failures.length === 0, failures })

/** One rollout on an isolated copy of an environment's state. */
export class Episode {
  readonly db: Db
  private readonly byName: Map<string, ToolSpec>
  submitted = false
  answer: unknown = undefined
  calls = 0

  constructor(readonly env: Environment) {
    this.db = Db.open(env.image)
    this.byName = new Map(env.tools.map((tool) => [tool.name, tool]))
  }

  /** Executes one tool call given as the model wrote it (name + JSON text of the arguments). */
  call(name: string, argumentsJson: string): ToolOutcome {
    this.calls++
    const tool = this.byName.get(name)
    if (tool === undefined) {
      return errorOutcome(`unknown tool ${JSON.stringify(name)}; available: ${[...this.byName.keys()].join(", ")}`)
    }
    let args: unknown
    try {
      args = argumentsJson.trim() === "" ? {} : JSON.parse(argumentsJson)
    } catch (error) {
      return errorOutcome(`arguments are not valid JSON (${error instanceof Error ? error.message : String(error)})`)
    }
    const problem = validate(tool.parameters, args)
    if (problem !== undefined) return errorOutcome(`invalid arguments for ${name}: ${problem}`)
    try {
      const value = tool.run(
        {
          db: this.db,
          submit: (answer) => {
            this.submitted = true
            this.answer = answer
          },
          sandbox: (code) => runSandboxed(code, toolLimits),
        },
        args as ToolArgs,
      )
      return { ok: true, content: JSON.stringify(value ?? null), value }
    } catch (error) {
      if (error instanceof ToolRefusal) return errorOutcome(error.message)
      // A tool bug or a SQLite error on odd input: still only a message for the model.
      return errorOutcome(`${name} failed: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  /** SHA-256 of the canonical dump of the state. */
  stateHash(): string {
    return sha256(this.db.dump())
  }

  close(): void {
    this.db.close()
  }
}

/** Limits of sandboxed tool calls: generous in time so that a loaded machine does not change an outcome. */
export const toolLimits = { timeoutMs: 5000, memoryBytes: 32 * 1024 * 1024 }

export const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")

/** Builds an environment image from a schema and rows (the data step of the synthesis loop). */
export const buildImage = (
  schema: string,
  tables: Record<
    string,
    { columns: ReadonlyArray<string>; rows: ReadonlyArray<ReadonlyArray<number | string | null>> }
  >,
  extra?: (db: Db) => void,
): Uint8Array => {
  const db = Db.empty()
  try {
    db.exec(schema)
    for (const [table, { columns, rows }] of Object.entries(tables))
      if (rows.length > 0) db.insert(table, columns, rows)
    extra?.(db)
    return db.image()
  } finally {
    db.close()
  }
}
