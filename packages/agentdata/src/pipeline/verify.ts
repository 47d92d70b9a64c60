/**
 * Verification of records (docs/agentdata.md §9): rebuild the record's environment and task from its spec (the
 * synthesis is deterministic), replay every tool call of the trajectory on a fresh copy of the state, check each
 * tool result equals the recorded one, then run the verifier on the replayed answer and final state, and check the
 * recorded answer and final-state hash. Anything tampered — an answer, a tool call, a tool result, the state hash —
 * fails.
 */
import { Schema } from "effect"
import type { SynthesizedUnit } from "../categories/unit.ts"
import { Episode } from "../env/environment.ts"
import { TaskRecordSchema } from "./record.ts"
import { synthesizeUnit } from "./synthesize.ts"

export interface RecordFailure {
  readonly id: string
  readonly reasons: ReadonlyArray<string>
}

const decode = Schema.decodeUnknownExit(TaskRecordSchema)

/** Rebuilds units on demand, keeping the last one (records of a unit are adjacent in a shard). */
export class UnitCache {
  private key = ""
  private unit: SynthesizedUnit | undefined
  get(seed: number, category: Parameters<typeof synthesizeUnit>[1], index: number, tasks: number): SynthesizedUnit {
    const key = `${seed}/${category}/${index}/${tasks}`
    if (key !== this.key || this.unit === undefined) {
      this.unit = synthesizeUnit(seed, category, index, tasks)
      this.key = key
    }
    return this.unit
  }
}

export const verifyRecord = (raw: unknown, cache: UnitCache = new UnitCache()): RecordFailure | undefined => {
  const decoded = decode(raw)
  const id = (raw as { metadata?: { id?: string } })?.metadata?.id ?? "<no id>"
  if (decoded._tag === "Failure") return { id, reasons: ["record does not match the schema"] }
  const record = decoded.value
  const { spec } = record.metadata
  let unit: SynthesizedUnit
  try {
    unit = cache.get(spec.seed, spec.category, spec.unit, spec.tasks)
  } catch (error) {
    return {
      id,
      reasons: [`cannot rebuild the environment: ${error instanceof Error ? error.message : String(error)}`],
    }
  }
  const task = unit.tasks.find((t) => t.id === record.metadata.id)
  if (task === undefined || unit.env.id !== record.metadata.env_id)
    return { id, reasons: ["unknown task or environment id"] }
  const reasons: Array<string> = []
  const episode = new Episode(unit.env)
  try {
    const results = new Map<string, string>()
    for (const m of record.messages) if (m.role === "tool") results.set(m.tool_call_id, m.content)
    for (const m of record.messages) {
      if (m.role !== "assistant" || m.tool_calls === undefined) continue
      for (const call of m.tool_calls) {
        const outcome = episode.call(call.function.name, call.function.arguments)
        if (results.get(call.id) !== outcome.content)
          reasons.push(`tool result of ${call.id} (${call.function.name}) differs on replay`)
      }
    }
    if (!episode.submitted) reasons.push("the trajectory never submits an answer")
    const verdict = task.verify(episode.answer, episode.db)
    for (const f of verdict.failures) reasons.push(`verifier: ${f}`)
    if (JSON.stringify(episode.answer ?? null) !== JSON.stringify(record.metadata.answer))
      reasons.push("metadata.answer differs from the submitted answer")
    if (episode.stateHash() !== record.metadata.final_state_sha256) reasons.push("final state hash differs")
    if (!record.metadata.verifier.passed) reasons.push("record is marked as failing its verifier")
  } finally {
    episode.close()
  }
  return reasons.length === 0 ? undefined : { id, reasons }
}
