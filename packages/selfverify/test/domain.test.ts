import { Rng } from "@ds/core"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  claimedDefects,
  correctProof,
  evaluate,
  gradeAnalysis,
  gradeProof,
  keyPhrases,
  type MutationKind,
  makeProblem,
  mutateProof,
  parseExpr,
  parseGeneration,
  parseVerification,
  referenceAnalysis,
  referenceGeneration,
  renderProof,
  show,
} from "../src/index.ts"

const seeds = fc.integer({ min: 0, max: 1_000_000 })
const problemOf = (seed: number) => makeProblem(Rng.make(seed), `p${seed}`, { minOps: 2, maxOps: 5 })

describe("the arithmetic proof domain", () => {
  it("a worked example grades as the docs say", () => {
    const problem = { id: "x", expression: parseExpr("(3 + 4) * 2 - 5")!, target: 9, statement: "" }
    const text = renderProof(problem, correctProof(problem))
    expect(text).toBe(
      [
        "Step 1: (3 + 4) * 2 - 5 = 7 * 2 - 5, because 3 + 4 = 7.",
        "Step 2: 7 * 2 - 5 = 14 - 5, because 7 * 2 = 14.",
        "Step 3: 14 - 5 = 9, because 14 - 5 = 9.",
        "Therefore (3 + 4) * 2 - 5 = 9.",
      ].join("\n"),
    )
    expect(gradeProof(problem, text)).toEqual({ score: 1, findings: [] })
    const wrong = text.replace("7 * 2 - 5 = 14 - 5, because 7 * 2 = 14", "7 * 2 - 5 = 15 - 5, because 7 * 2 = 15")
    const verdict = gradeProof(problem, wrong)
    expect(verdict.score).toBe(0)
    expect(verdict.findings[0]).toMatchObject({ step: 2, kind: "false-step" })
  })

  it("property: printing then parsing an expression gives it back, with its value", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const { expression, target } = problemOf(seed)
        const back = parseExpr(show(expression))!
        expect(show(back)).toBe(show(expression))
        expect(evaluate(back)).toBe(target)
        expect(target).toBeGreaterThanOrEqual(0)
      }),
      { numRuns: 200, seed: 1 },
    )
  })

  it("property: the correct proof grades 1 and its reference analysis says so in the verifier format", () => {
    fc.assert(
      fc.property(seeds, (seed) => {
        const problem = problemOf(seed)
        const verdict = gradeProof(problem, renderProof(problem, correctProof(problem)))
        expect(verdict).toEqual({ score: 1, findings: [] })
        expect(parseVerification(referenceAnalysis(verdict))).toEqual({ score: 1, format_ok: true, error: null })
      }),
      { numRuns: 200, seed: 2 },
    )
  })

  const expected: Record<MutationKind, { score: number; kind: string }> = {
    "wrong-step": { score: 0, kind: "false-step" },
    "skipped-step": { score: 0.5, kind: "skipped-step" },
    "wrong-conclusion": { score: 0, kind: "wrong-conclusion" },
    "unjustified-claim": { score: 0.5, kind: "unjustified" },
  }

  for (const [kind, want] of Object.entries(expected) as Array<[MutationKind, { score: number; kind: string }]>)
    it(`property: a ${kind} mutation grades ${want.score} and the analysis names the faulty place`, () => {
      fc.assert(
        fc.property(seeds, (seed) => {
          const problem = problemOf(seed)
          const flawed = mutateProof(problem, kind, Rng.make(seed).fork("mutate"))
          if (flawed === null) return
          const text = renderProof(problem, flawed)
          const verdict = gradeProof(problem, text)
          expect(verdict.score).toBe(want.score)
          expect(verdict.findings[0]!.kind).toBe(want.kind)
          const analysis = referenceAnalysis(verdict)
          expect(parseVerification(analysis).score).toBe(want.score)
          const place = verdict.findings[0]!.step
          expect(analysis).toContain(place === "conclusion" ? "conclusion" : `Step ${place}`)
          expect(claimedDefects(analysis).has(place)).toBe(true)
          // The oracle's own analysis passes meta-verification.
          expect(gradeAnalysis(problem, text, verdict.score, analysis).score).toBe(1)
        }),
        { numRuns: 150, seed: 5 },
      )
    })

  it("meta-verification: a defect claimed in a correct step is invalid (0); a missed defect is a score error (0.5)", () => {
    const problem = problemOf(42)
    const correct = renderProof(problem, correctProof(problem))
    const bogus = `${keyPhrases.evaluationStart}\nStep 1 is wrong.\n${keyPhrases.evaluationScore} \\boxed{0}`
    expect(gradeAnalysis(problem, correct, 0, bogus)).toMatchObject({ score: 0, invalid: [1] })
    const flawed = renderProof(problem, mutateProof(problem, "wrong-conclusion", Rng.make(1))!)
    const missed = `${keyPhrases.evaluationStart}\nAll good.\n${keyPhrases.evaluationScore} \\boxed{1}`
    expect(gradeAnalysis(problem, flawed, 1, missed)).toMatchObject({ score: 0.5, scoreConsistent: false })
  })

  it("a proof that is not a derivation at all grades 0 without throwing", () => {
    const problem = problemOf(7)
    for (const text of ["", "It is obvious.", "Step 1: banana = 3.\nTherefore x = 2.", "Step 1: 1 + = 2"])
      expect(gradeProof(problem, text).score).toBe(0)
  })

  it("the reference generation parses as a generator output whose self-score is the oracle's grade", () => {
    const problem = problemOf(3)
    for (const kind of ["skipped-step", "wrong-step"] as const) {
      const flawed = mutateProof(problem, kind, Rng.make(9))!
      const parsed = parseGeneration(referenceGeneration(problem, flawed))
      expect(parsed.format_ok).toBe(true)
      expect(parsed.self_score).toBe(gradeProof(problem, parsed.proof).score)
    }
  })
})
