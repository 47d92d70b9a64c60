import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Progress } from "@ds/core"
import { Effect, Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  loadRuntimes,
  readRecords,
  recordFiles,
  synthesize,
  TaskRecordSchema,
  toTau2,
  UnitCache,
  verifyRecord,
} from "../src/index.ts"
import { tinyPlan } from "./plan.ts"

const root = mkdtempSync(join(tmpdir(), "agentdata-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))
beforeAll(() => Effect.runPromise(loadRuntimes))

const run = (out: string, resume = false) =>
  Effect.runPromise(
    synthesize({ out, preset: "quick", plan: tinyPlan, seed: 9, resume }).pipe(Effect.provide(Progress.layerSilent)),
  )

/** Every shard's bytes, keyed by relative path. */
const snapshot = (out: string) =>
  Object.fromEntries(recordFiles(out).map((f) => [f.slice(out.length), readFileSync(f, "utf8")]))

describe("synthesis run", () => {
  const a = join(root, "a")
  let reference: Record<string, string> = {}

  it("produces the planned counts, all verified, and the same bytes for the same seed", async () => {
    const stats = await run(a)
    expect(stats.tasks.by_category).toEqual({ general: 9, "code-interpreter": 4, search: 6, code: 4 })
    expect(stats.environments.by_category).toEqual({ general: 4, "code-interpreter": 4, search: 2, code: 4 })
    expect(stats.verified).toBe(23)
    expect(readFileSync(join(a, "README.md"), "utf8")).toContain("| general | 4 | 9 |")
    expect(readFileSync(join(a, "difficulty.svg"), "utf8")).toMatch(/^<svg/)
    reference = snapshot(a)
    const b = join(root, "b")
    await run(b)
    expect(snapshot(b)).toEqual(reference)
  })

  it("resumes after kill -9 in a child process with the same bytes, and regenerates a corrupt shard", async () => {
    const c = join(root, "c")
    const child = spawn(
      process.execPath,
      ["--conditions=@ds/source", "--import", "tsx", join(import.meta.dirname, "fixtures", "synth-child.ts"), c],
      { stdio: "ignore" },
    )
    // Kill as soon as the first shard is on disk, mid-run.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const dir = join(c, "shards", "general")
        if (existsSync(dir) && readdirSync(dir).some((n) => n.endsWith(".done.json"))) {
          clearInterval(timer)
          child.kill("SIGKILL")
          resolve()
        }
      }, 20)
      child.on("exit", (code) => {
        clearInterval(timer)
        code === 0 ? resolve() : code === null ? resolve() : reject(new Error(`child exited ${code}`))
      })
    })
    await new Promise((r) => child.on("close", r))
    await expect(run(c)).rejects.toThrow(/--resume/)
    await run(c, true)
    expect(snapshot(c)).toEqual(reference)
    // A corrupt shard (one flipped byte) is detected by its hash and regenerated.
    const shard = recordFiles(c)[0] as string
    writeFileSync(shard, readFileSync(shard, "utf8").replace("trip", "trap"))
    await run(c, true)
    expect(snapshot(c)).toEqual(reference)
  })

  it("verify accepts every record and catches a tampered answer, tool result or state", () => {
    const cache = new UnitCache()
    const records = recordFiles(a).flatMap((f) =>
      [...readRecords(f)].map((l) => l.value as { metadata: { category: string } }),
    )
    for (const r of records) expect(verifyRecord(r, cache)).toBeUndefined()
    const general = records.find((r) => r.metadata.category === "general")!
    const clone = () => JSON.parse(JSON.stringify(general))
    // 1. The submitted answer edited in the trajectory (and in the metadata, to match).
    const answer = clone()
    const submit = answer.messages.findLast((m: { tool_calls?: unknown }) => m.tool_calls !== undefined).tool_calls[0]
      .function
    const args = JSON.parse(submit.arguments)
    const edited = JSON.parse(JSON.stringify(args).replace(/(\d+)/, (d) => String(-Number(d) - 1)))
    submit.arguments = JSON.stringify(edited)
    answer.metadata.answer = edited
    expect(verifyRecord(answer, cache)?.reasons.join(" ")).toMatch(/verifier|differs/)
    // 2. A tool result rewritten.
    const result = clone()
    result.messages[3].content = '{"forged":true}'
    expect(verifyRecord(result, cache)?.reasons.join(" ")).toMatch(/differs on replay/)
    // 3. The final state claimed differently.
    const state = clone()
    state.metadata.final_state_sha256 = "0".repeat(64)
    expect(verifyRecord(state, cache)?.reasons).toContain("final state hash differs")
  })

  it("exports OpenAI chat records that match the schema, and tau2 task records", () => {
    const decode = Schema.decodeUnknownSync(TaskRecordSchema)
    for (const f of recordFiles(a))
      for (const { value } of readRecords(f)) {
        const record = decode(value)
        const calls = record.messages.flatMap((m) => (m.role === "assistant" ? (m.tool_calls ?? []) : []))
        const results = record.messages.filter((m) => m.role === "tool")
        expect(results.map((m) => m.tool_call_id)).toEqual(calls.map((c) => c.id))
        for (const c of calls) expect(record.tools.map((t) => t.function.name)).toContain(c.function.name)
        const tau = toTau2(record)
        expect(tau.evaluation_criteria.actions.length).toBe(calls.length)
      }
  })
})
