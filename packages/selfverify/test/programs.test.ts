/**
 * The programs behind the `ds` commands, over the real DeepSeekMath-V2 files in data/ and a scripted model (a test
 * double for a strong verifier, which cannot run here). Files, state and reports are real.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import { keyPhrases, readProblems, readProofs, verifyProgram } from "../src/index.ts"
import { type Role, scriptedModel } from "./scripted-model.ts"

const data = resolve(import.meta.dirname, "..", "data")

describe("programs", () => {
  it.effect("reads DeepSeekMath-V2's input and output formats", () =>
    Effect.gen(function* () {
      const problems = yield* readProblems(join(data, "imo2025-problems.json"))
      assert.deepStrictEqual(
        problems.map((p) => p.id),
        ["IMO2025-1", "IMO2025-2", "IMO2025-3", "IMO2025-4", "IMO2025-5", "IMO2025-6"],
      )
      const proofs = yield* readProofs(join(data, "imo2025-proofs.jsonl"))
      assert.strictEqual(proofs.length, 6)
      assert.isTrue(proofs.every((p) => p.proof.length > 1000 && p.question.length > 50))
    }),
  )

  it.effect("a file without questions fails with the line that lacks one", () =>
    Effect.gen(function* () {
      const file = join(mkdtempSync(join(tmpdir(), "sv-bad-")), "bad.jsonl")
      writeFileSync(file, '{"question": "ok"}\n{"nope": 1}\n')
      const error = yield* Effect.flip(readProblems(file))
      assert.include(error.message, "bad.jsonl:2")
    }),
  )

  it.effect("verify: per-proof scores, a failed call reported without losing the others, a rerun completes it", () =>
    Effect.gen(function* () {
      const out = mkdtempSync(join(tmpdir(), "sv-verify-"))
      const proofs = (yield* readProofs(join(data, "imo2025-proofs.jsonl"))).slice(0, 3)
      const calls = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
      const say = (score: string) =>
        `${keyPhrases.evaluationStart}\nchecked\n${keyPhrases.evaluationScore} \\boxed{${score}}`
      // The second proof's verifications fail (an endpoint outage on that item) in the first run.
      const flaky = {
        respond: (prompt: string) => (prompt.includes(proofs[1]!.proof.slice(0, 200)) ? "FAIL" : say("1")),
      }
      const first = yield* verifyProgram(proofs, 2, undefined, { out, title: "t" }).pipe(
        Effect.provide(scriptedModel(flaky, calls)),
      )
      assert.deepStrictEqual(
        first.results.map((r) => r.status),
        ["done", "incomplete", "done"],
      )
      assert.strictEqual(first.failures, 2)
      assert.include(readFileSync(join(out, "report.md"), "utf8"), "rerun the same command to retry them")
      const second = yield* verifyProgram(proofs, 2, undefined, { out, title: "t" }).pipe(
        Effect.provide(scriptedModel({ respond: () => say("0.5") }, calls)),
      )
      assert.strictEqual(second.asked, 2)
      assert.strictEqual(second.reused, 4)
      assert.deepStrictEqual(
        second.results.map((r) => r.mean_score),
        [1, 0.5, 1],
      )
      const lines = readFileSync(join(out, "results.jsonl"), "utf8").trim().split("\n")
      assert.strictEqual(lines.length, 3)
    }),
  )
})
