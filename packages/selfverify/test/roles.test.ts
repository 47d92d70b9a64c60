import { Rng } from "@ds/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import {
  correctProof,
  defaultTemplates,
  generateProof,
  gradeAnalysis,
  gradeProof,
  makeProblem,
  metaVerify,
  mutateProof,
  parseVerification,
  referenceAnalysis,
  referenceGeneration,
  referenceMetaAnalysis,
  refineProof,
  renderProof,
  verifyProof,
} from "../src/index.ts"
import { type Role, scriptedModel, section } from "./scripted-model.ts"

const problem = makeProblem(Rng.make(5), "p5", { minOps: 3, maxOps: 3 })
const flawed = mutateProof(problem, "wrong-step", Rng.make(1))!

/** The strong model's stand-in: the exact oracle answers as each role would. */
const oracle = (prompt: string, role: Role): string => {
  switch (role) {
    case "generator":
      return `<think>let me compute</think>\n${referenceGeneration(problem, flawed)}`
    case "refinement":
      return referenceGeneration(problem, correctProof(problem))
    case "verifier":
      return referenceAnalysis(gradeProof(problem, section(prompt, "Solution")))
    case "meta": {
      const proof = section(prompt, "Solution")
      const evaluation = section(prompt, "Solution Evaluation")
      const meta = gradeAnalysis(problem, proof, parseVerification(evaluation).score, evaluation)
      return referenceMetaAnalysis(meta, gradeProof(problem, proof).score)
    }
  }
}

describe("roles over LanguageModel (scripted model standing in for a strong prover)", () => {
  it.effect("generator -> verifier -> meta-verifier -> refinement, each parsed, with token usage", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
      const run = Effect.gen(function* () {
        const generation = yield* generateProof(problem.statement)
        assert.isTrue(generation.parse.format_ok)
        assert.strictEqual(generation.parse.self_score, 0)
        assert.isTrue(generation.usage.outputTokens > 0)
        const verification = yield* verifyProof(problem.statement, generation.parse.proof)
        assert.deepStrictEqual(verification.parse, { score: 0, format_ok: true, error: null })
        const meta = yield* metaVerify(problem.statement, generation.parse.proof, verification.text)
        assert.deepStrictEqual(meta.parse, { score: 1, format_ok: true, error: null })
        const refined = yield* refineProof(problem.statement, [
          { proof: generation.parse.proof, evaluations: [verification.text] },
        ])
        assert.strictEqual(refined.parse.self_score, 1)
        assert.strictEqual(gradeProof(problem, refined.parse.proof).score, 1)
      })
      yield* run.pipe(Effect.provide(scriptedModel({ respond: oracle }, calls)))
      const log = yield* Ref.get(calls)
      assert.deepStrictEqual(
        log.map((c) => c.role),
        ["generator", "verifier", "meta", "refinement"],
      )
      // The prompts carry the rubric, the key phrases, and the material each role needs.
      const [gen, ver, meta, ref] = log.map((c) => c.prompt)
      assert.include(gen, "Quoting a result from a paper")
      assert.include(gen, "## Self Evaluation")
      assert.include(ver, "Based on my evaluation, the final overall score should be:")
      assert.include(ver, renderProof(problem, flawed))
      assert.include(meta, 'Based on my analysis, I will rate the "solution evaluation" as:')
      assert.include(meta, "(b) Defects")
      assert.include(ref, "### Candidate Solution 1")
      assert.include(ref, "#### Evaluation 1 of Candidate 1")
    }),
  )

  it.effect("templates are overridable per call", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
      const templates = { verifier: `You are grading a proof. Be brief.\n## Problem\n{problem}\n## Solution\n{proof}` }
      yield* verifyProof("P", "Q", { templates }).pipe(
        Effect.provide(scriptedModel({ respond: () => "no format at all" }, calls)),
        Effect.tap((out) =>
          Effect.sync(() => {
            assert.isFalse(out.parse.format_ok)
            assert.isNull(out.parse.score)
          }),
        ),
      )
      const [call] = yield* Ref.get(calls)
      assert.strictEqual(call!.prompt, "You are grading a proof. Be brief.\n## Problem\nP\n## Solution\nQ")
      assert.notStrictEqual(defaultTemplates.verifier, templates.verifier)
    }),
  )
})
