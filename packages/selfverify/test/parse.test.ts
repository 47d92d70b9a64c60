import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  boxedContents,
  keyPhrases,
  parseGeneration,
  parseMetaVerification,
  parseVerification,
  readScore,
  type Score,
} from "../src/index.ts"

const verification = (score: string, body = "Step 1 is fine.") =>
  `${keyPhrases.evaluationStart}\n${body}\n\n${keyPhrases.evaluationScore} \\boxed{${score}}`

const realProofs = readFileSync(resolve(import.meta.dirname, "..", "data", "imo2025-proofs.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as { problem_idx: string; model_prediction: { proof: string } })

describe("parseVerification", () => {
  it("reads the canonical format", () => {
    for (const [text, score] of [
      ["1", 1],
      ["0.5", 0.5],
      ["0", 0],
    ] as const)
      expect(parseVerification(verification(text))).toEqual({ score, format_ok: true, error: null })
  })

  it("reads the score after </think> and ignores boxes inside the reasoning", () => {
    const text = `<think>maybe \\boxed{0}? no.</think>\n${verification("1")}`
    expect(parseVerification(text).score).toBe(1)
  })

  it("an unclosed <think> has no answer: format 0 with a reason", () => {
    const result = parseVerification(`<think>${verification("1")}`)
    expect(result.score).toBeNull()
    expect(result.format_ok).toBe(false)
    expect(result.error).toMatch(/<\/think>/)
  })

  it('accepts the released template\'s "overal" spelling, bold and headers', () => {
    const text = `## **Here is my evaluation of the solution:**\nok\n\n**Based on my evaluation, the final overal score should be:**\n\n$$\\boxed{0.5}$$`
    expect(parseVerification(text)).toEqual({ score: 0.5, format_ok: true, error: null })
  })

  it("takes the last box after the score phrase, not the proof's own boxed answer quoted earlier", () => {
    const text = verification("0", "The solution concludes \\boxed{\\{0,1,3\\}} but step 4 is false.")
    expect(parseVerification(text).score).toBe(0)
  })

  it("a score outside {0, 0.5, 1} is null and says why", () => {
    const result = parseVerification(verification("0.7"))
    expect(result.score).toBeNull()
    expect(result.format_ok).toBe(false)
    expect(result.error).toContain('"0.7" is not one of 0, 0.5, 1')
  })

  it("missing key phrases keep the score but fail the format, naming the phrase", () => {
    const result = parseVerification("The proof is right. \\boxed{1}")
    expect(result.score).toBe(1)
    expect(result.format_ok).toBe(false)
    expect(result.error).toContain("Here is my evaluation of the solution:")
    expect(result.error).toContain("Based on my evaluation")
  })

  it("no box at all is null with a reason", () => {
    const result = parseVerification(`${keyPhrases.evaluationStart}\nfine\n${keyPhrases.evaluationScore} 1`)
    expect(result.score).toBeNull()
    expect(result.error).toMatch(/no \\boxed\{\} score after/)
  })

  it("property: any lenient spelling of a valid score parses to that score with format ok", () => {
    const spellings: Record<Score, ReadonlyArray<string>> = {
      0: ["0", "0.0", "0.00", " 0 ", "\\text{0}", "$0$", "\\mathbf{0}"],
      0.5: ["0.5", "0.50", ".5", "\\frac{1}{2}", "\\dfrac{1}{2}", "\\frac12", "1/2", "\\text{0.5}", "\\, 0.5 \\,"],
      1: ["1", "1.0", "1.00", "\\textbf{1}", " 1", "{1}"],
    }
    const arbitrary = fc.record({
      score: fc.constantFrom<Score>(0, 0.5, 1),
      pick: fc.nat(),
      overall: fc.constantFrom("overall", "overal"),
      bold: fc.boolean(),
      header: fc.constantFrom("", "# ", "## ", "### "),
      think: fc.option(
        fc.string({ maxLength: 40 }).map((s) => s.replaceAll("</think>", "")),
        { nil: undefined },
      ),
      colon: fc.boolean(),
      noise: fc.constantFrom("", "\n", "\n\n", "  \n", " \t"),
      body: fc.string({ maxLength: 60 }).map((s) => s.replaceAll("\\", "")),
    })
    fc.assert(
      fc.property(arbitrary, (a) => {
        const options = spellings[a.score]
        const spelling = options[a.pick % options.length]!
        const b = a.bold ? "**" : ""
        const phrase = `${b}Based on my evaluation, the final ${a.overall} score should be${a.colon ? ":" : ""}${b}`
        const text = `${a.think === undefined ? "" : `<think>${a.think}</think>`}${a.header}${b}Here is my evaluation of the solution:${b}${a.noise}${a.body}${a.noise}${phrase}${a.noise}\\boxed{${spelling}}${a.noise}`
        const result = parseVerification(text)
        expect(result).toEqual({ score: a.score, format_ok: true, error: null })
      }),
      { numRuns: 300, seed: 7 },
    )
  })

  it("property: a box holding a number outside {0, 0.5, 1} never yields a score", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -10, max: 10, noNaN: true }).filter((x) => x !== 0 && x !== 0.5 && x !== 1),
        (x) => {
          const result = parseVerification(verification(String(x)))
          expect(result.score).toBeNull()
          expect(result.format_ok).toBe(false)
          expect(result.error).not.toBeNull()
        },
      ),
      { numRuns: 200, seed: 3 },
    )
  })

  it("property: never throws on arbitrary text, and format_ok implies a score and no error", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.constantFrom("", "\\boxed{", "</think>", "<think>"), (s, t) => {
        for (const parse of [parseVerification, parseMetaVerification, parseGeneration]) {
          const result = parse(`${t}${s}${t}`)
          if (result.format_ok) expect(result.score !== null && result.error === null).toBe(true)
          else expect(result.error).not.toBeNull()
        }
      }),
      { numRuns: 300, seed: 11 },
    )
  })
})

describe("parseMetaVerification", () => {
  it("reads the meta format, with straight or curly quotes", () => {
    const straight = `${keyPhrases.metaStart}\n(b) the defect is real.\n${keyPhrases.metaScore} \\boxed{0.5}`
    expect(parseMetaVerification(straight)).toEqual({ score: 0.5, format_ok: true, error: null })
    const curly = straight.replaceAll('"', "“")
    expect(parseMetaVerification(curly).score).toBe(0.5)
    expect(parseMetaVerification(curly).format_ok).toBe(true)
  })

  it("a verifier's phrases are not the meta format", () => {
    const result = parseMetaVerification(verification("1"))
    expect(result.format_ok).toBe(false)
    expect(result.error).toContain("solution evaluation")
  })
})

describe("parseGeneration", () => {
  it("splits a real DeepSeekMath-V2 proof from its self-evaluation, ignoring the proof's own boxed answer", () => {
    for (const record of realProofs) {
      const proof = record.model_prediction.proof
      const text = `<think>long reasoning</think>\n## Solution\n${proof}\n\n## Self Evaluation\n${verification("1")}`
      const result = parseGeneration(text)
      expect(result.format_ok, record.problem_idx).toBe(true)
      expect(result.self_score).toBe(1)
      expect(result.proof).toBe(proof.trim())
    }
  })

  it("a real proof without a self-evaluation is format 0 with a reason, and the proof is kept", () => {
    const proof = realProofs[0]!.model_prediction.proof
    const result = parseGeneration(proof)
    expect(result.format_ok).toBe(false)
    expect(result.self_score).toBeNull()
    expect(result.error).toContain("Self Evaluation")
    expect(result.proof).toBe(proof.trim())
  })

  it("accepts bold headers and 'Self-Evaluation'", () => {
    const text = `**Solution**\nWe have 1+1=2.\n\n**Self-Evaluation:**\n${verification("0.5")}`
    const result = parseGeneration(text)
    expect(result).toMatchObject({ format_ok: true, self_score: 0.5, proof: "We have 1+1=2." })
  })

  it("a self-evaluation without a valid score is format 0 with the verifier's reason", () => {
    const result = parseGeneration(`## Solution\nx\n## Self Evaluation\n${verification("maybe")}`)
    expect(result.format_ok).toBe(false)
    expect(result.error).toMatch(/^self evaluation: the boxed score "maybe"/)
  })
})

describe("boxes and scores", () => {
  it("boxedContents balances nested braces", () => {
    expect(boxedContents("a \\boxed{\\frac{1}{2}} b \\boxed{\\{0,1\\}} \\boxed{unclosed")).toEqual([
      "\\frac{1}{2}",
      "\\{0,1\\}",
    ])
  })

  it("readScore rejects non-scores", () => {
    for (const s of ["", "2", "0.25", "one", "1.5", "-1", "\\{0,1,3\\}", "0.5.1"]) expect(readScore(s)).toBeNull()
  })
})
