/**
 * Exports (docs/agentdata.md §8): records stream out of the shards as OpenAI chat JSONL (the records themselves) or
 * as tau2-bench-style task records (user scenario, initial state, evaluation criteria with the reference actions).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { jsonlLinesOf } from "@ds/core"
import { categories } from "../env/environment.ts"
import type { TaskRecord } from "./record.ts"

/** The JSONL files of a run directory (shards in order) or the single file given. */
export const recordFiles = (input: string): Array<string> => {
  if (!statSync(input).isDirectory()) return [input]
  const files: Array<string> = []
  for (const category of categories) {
    const dir = join(input, "shards", category)
    if (!existsSync(dir)) continue
    for (const name of readdirSync(dir).sort()) if (name.endsWith(".jsonl")) files.push(join(dir, name))
  }
  if (files.length === 0)
    for (const name of readdirSync(input).sort()) if (name.endsWith(".jsonl")) files.push(join(input, name))
  return files
}

/** Lines of a JSONL file, each parsed or reported. */
export function* readRecords(file: string): Generator<{ line: number; value?: unknown; error?: string }> {
  for (const { lineNumber, text } of jsonlLinesOf(readFileSync(file, "utf8"))) {
    try {
      yield { line: lineNumber, value: JSON.parse(text) }
    } catch (error) {
      yield {
        line: lineNumber,
        error: `line ${lineNumber} is not JSON (${error instanceof Error ? error.message : String(error)})`,
      }
    }
  }
}

export const toTau2 = (record: TaskRecord) => {
  const calls = record.messages.flatMap((m) => (m.role === "assistant" ? (m.tool_calls ?? []) : []))
  return {
    id: record.metadata.id,
    description: {
      purpose: `${record.metadata.category} task in domain ${record.metadata.domain}`,
      difficulty: record.metadata.difficulty,
    },
    user_scenario: {
      instructions: {
        domain: record.metadata.domain,
        reason_for_call: record.messages.find((m) => m.role === "user")?.content ?? "",
        known_info: null,
        unknown_info: null,
        task_instructions: record.messages.find((m) => m.role === "system")?.content ?? "",
      },
    },
    initial_state: { env_id: record.metadata.env_id, spec: record.metadata.spec },
    evaluation_criteria: {
      actions: calls.map((c, i) => ({
        action_id: `${record.metadata.id}#${i}`,
        requestor: "assistant",
        name: c.function.name,
        arguments: JSON.parse(c.function.arguments) as unknown,
      })),
      final_state_sha256: record.metadata.final_state_sha256,
      reward_basis: ["DB", "ENV_ASSERTION"],
    },
    tools: record.tools,
  }
}
