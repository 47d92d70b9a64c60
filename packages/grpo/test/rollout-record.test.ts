import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { appendJsonl, readJsonl, writeJsonlAtomic } from "@ds/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type RolloutRecord, RolloutRecordSchema, recordCompletion, recordPrompt } from "../src/rollout/record.ts"

const record = (id: string): RolloutRecord => ({
  id,
  groupId: "0/0",
  messages: [
    { role: "user", content: "2+3=" },
    { role: "assistant", content: "5" },
  ],
  promptTokens: [4, 5, 6, 7],
  completionTokens: [9, 2],
  samplingLogps: [-0.25, -1.5],
  keptTokens: [[9, 8], null],
  routedExperts: [[[0, 1]], [[1, 2]], [[3, 0]], [[2, 1]], [[0, 3]]],
  truncated: false,
  metadata: { answer: 5 },
})

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "grpo-jsonl-"))

describe("rollout records as JSONL", () => {
  it.effect("round-trip through a file unchanged", () =>
    Effect.gen(function* () {
      const file = path.join(tempDir(), "r.jsonl")
      yield* writeJsonlAtomic(file, RolloutRecordSchema, [record("0/0/0"), record("0/0/1")])
      const back = yield* readJsonl(file, RolloutRecordSchema)
      expect(back).toEqual([record("0/0/0"), record("0/0/1")])
      expect(recordPrompt(back[0] as RolloutRecord)).toBe("2+3=")
      expect(recordCompletion(back[0] as RolloutRecord)).toBe("5")
      expect(fs.readdirSync(path.dirname(file))).toEqual(["r.jsonl"]) // no temp file left behind
    }),
  )

  it.effect("appends, and a torn last line (a kill mid-write) is dropped on read", () =>
    Effect.gen(function* () {
      const file = path.join(tempDir(), "log.jsonl")
      yield* appendJsonl(file, RolloutRecordSchema, [record("a")])
      yield* appendJsonl(file, RolloutRecordSchema, [record("b")])
      fs.appendFileSync(file, '{"id":"c","groupId"')
      const back = yield* readJsonl(file, RolloutRecordSchema)
      expect(back.map((r) => r.id)).toEqual(["a", "b"])
    }),
  )

  it.effect("rejects a malformed record with the line number", () =>
    Effect.gen(function* () {
      const file = path.join(tempDir(), "bad.jsonl")
      fs.writeFileSync(file, `${JSON.stringify({ ...record("x"), samplingLogps: ["no"] })}\n`)
      const result = yield* Effect.flip(readJsonl(file, RolloutRecordSchema))
      expect(result._tag).toBe("InputError")
      expect(result.message).toMatch(/bad\.jsonl:1: /)
    }),
  )
})
