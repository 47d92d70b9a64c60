/**
 * The loops with a scripted `LanguageModel` (test/scripted-model.ts): a test double for a strong prover that cannot
 * run here, whose answers come from the exact oracle of the arithmetic domain. The stores, state files, parsing and
 * decisions under test are the real ones.
 */
import { appendFileSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Rng } from "@ds/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import {
  autoLabel,
  correctProof,
  type DomainProblem,
  decideLabel,
  gradeAnalysis,
  gradeProof,
  keyPhrases,
  type LabelledAnalysis,
  makeProblem,
  mutateProof,
  openStore,
  paperSearchDefaults,
  parseVerification,
  pickReleased,
  referenceAnalysis,
  referenceGeneration,
  referenceMetaAnalysis,
  refineSequentially,
  releasedSearchDefaults,
  renderProof,
  searchProof,
} from "../src/index.ts"
import { type Role, type Script, scriptedModel, section } from "./scripted-model.ts"

const problem: DomainProblem = makeProblem(Rng.make(11), "p11", { minOps: 3, maxOps: 3 })
const flawed = mutateProof(problem, "wrong-step", Rng.make(2))!
const flawedText = referenceGeneration(problem, flawed)

const bogus = `${keyPhrases.evaluationStart}\nStep 1 is wrong.\n${keyPhrases.evaluationScore} \\boxed{0}`

/** Oracle answers; `verifier` can be overridden per call to script disagreeing analyses. */
const oracleScript = (
  overrides: Partial<{ verifier: (proof: string, call: number) => string; generator: string }> = {},
): Script => ({
  respond: (prompt: string, role: Role, call: number) => {
    switch (role) {
      case "generator":
        return overrides.generator ?? flawedText
      case "refinement":
        return referenceGeneration(problem, correctProof(problem))
      case "verifier": {
        const proof = section(prompt, "Solution")
        return overrides.verifier?.(proof, call) ?? referenceAnalysis(gradeProof(problem, proof))
      }
      case "meta": {
        const proof = section(prompt, "Solution")
        const evaluation = section(prompt, "Solution Evaluation")
        const meta = gradeAnalysis(problem, proof, parseVerification(evaluation).score, evaluation)
        return referenceMetaAnalysis(meta, gradeProof(problem, proof).score)
      }
    }
  },
})

const analysis = (score: 0 | 0.5 | 1 | null, valid: boolean | null): LabelledAnalysis => ({
  index: 0,
  score,
  metaScores: [],
  valid,
})

describe("scaled-verification auto-labelling", () => {
  it("decides as the paper says on scripted analyses", () => {
    assert.strictEqual(decideLabel([analysis(1, null), analysis(1, null)], 1), 1)
    assert.strictEqual(decideLabel([analysis(1, null), analysis(0, false), analysis(0.5, false)], 1), 1)
    assert.strictEqual(decideLabel([analysis(0, true), analysis(0, true), analysis(1, null)], 2), 0)
    assert.strictEqual(decideLabel([analysis(0, true), analysis(0, false), analysis(1, null)], 2), "needs-review")
    assert.strictEqual(decideLabel([analysis(0.5, true), analysis(0.5, true), analysis(0, false)], 2), "needs-review")
    assert.strictEqual(decideLabel([analysis(0.5, true), analysis(0.5, true), analysis(null, null)], 2), 0.5)
  })

  it.effect("labels a flawed proof 0 when the valid analyses agree, and drops a bogus one by meta-verification", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
      // Calls 0 and 2 are bogus analyses (a correct step called wrong); the rest are the oracle's.
      const script = oracleScript({ verifier: (_, call) => (call === 0 || call === 2 ? bogus : undefined) as string })
      const proof = renderProof(problem, flawed)
      const store = yield* openStore(undefined)
      const label = yield* autoLabel(store, "p11", problem.statement, proof, { n: 4, m: 3, k: 2, concurrency: 1 }).pipe(
        Effect.provide(scriptedModel(script, calls)),
      )
      assert.strictEqual(label.label, 0)
      const valid = label.analyses.filter((a) => a.valid === true).length
      const invalid = label.analyses.filter((a) => a.valid === false).length
      assert.deepStrictEqual([valid, invalid], [2, 2])
      // n verifications + m meta-verifications for each of the 4 issue-reporting analyses.
      assert.strictEqual((yield* Ref.get(calls)).length, 4 + 4 * 3)
    }),
  )

  it.effect("resumes from its JSONL state: no call repeated, none lost, a torn last line redone", () =>
    Effect.gen(function* () {
      const file = join(mkdtempSync(join(tmpdir(), "sv-state-")), "state.jsonl")
      const proof = renderProof(problem, flawed)
      const config = { n: 6, m: 3, k: 2, concurrency: 1 }
      // Run 1: the endpoint goes down after 5 calls (every later call fails after its retries).
      const calls1 = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
      const down = oracleScript()
      const store1 = yield* openStore(file)
      yield* autoLabel(store1, "p11", problem.statement, proof, config).pipe(
        Effect.provide(scriptedModel({ respond: (p, r, c) => (c >= 5 ? "FAIL" : down.respond(p, r, c)) }, calls1)),
      )
      assert.strictEqual(store1.asked(), 5)
      assert.isTrue(store1.failures().length > 0)
      // The process dies while writing a line.
      appendFileSync(file, '{"key":"p11/v9","value":{"te')
      // Run 2: everything answered; only the missing units are asked.
      const calls2 = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
      const store2 = yield* openStore(file)
      const label = yield* autoLabel(store2, "p11", problem.statement, proof, config).pipe(
        Effect.provide(scriptedModel(oracleScript(), calls2)),
      )
      assert.strictEqual(store2.reused(), 5)
      assert.strictEqual(store2.failures().length, 0)
      const total = 6 + 6 * 3
      assert.strictEqual((yield* Ref.get(calls2)).length, total - 5)
      const keys = readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => line.startsWith("{") && line.endsWith("}"))
        .map((line) => (JSON.parse(line) as { key: string }).key)
      assert.strictEqual(new Set(keys).size, keys.length)
      assert.strictEqual(keys.length, total)
      assert.strictEqual(label.label, 0)
      // Run 3: nothing left to ask.
      const calls3 = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
      const store3 = yield* openStore(file)
      yield* autoLabel(store3, "p11", problem.statement, proof, config).pipe(
        Effect.provide(scriptedModel(oracleScript(), calls3)),
      )
      assert.strictEqual((yield* Ref.get(calls3)).length, 0)
      assert.deepStrictEqual(store3.usage(), store2.usage())
    }),
  )
})

describe("sequential refinement", () => {
  it.effect("refines until the self-score is 1, passing the previous proof and its self-evaluation", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
      const store = yield* openStore(undefined)
      const result = yield* refineSequentially(store, "p11", problem.statement, 5).pipe(
        Effect.provide(scriptedModel(oracleScript(), calls)),
      )
      assert.strictEqual(result.stoppedBy, "self-score-1")
      assert.deepStrictEqual(
        result.steps.map((s) => s.selfScore),
        [0, 1],
      )
      assert.strictEqual(gradeProof(problem, result.final!.proof).score, 1)
      const refinement = (yield* Ref.get(calls))[1]!.prompt
      assert.include(refinement, flawedText.split("## Self Evaluation\n")[1]!.split("\n")[1]!)
    }),
  )

  it.effect("stops at the cap when the self-score never reaches 1", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
      const store = yield* openStore(undefined)
      const stubborn: Script = { respond: () => flawedText }
      const result = yield* refineSequentially(store, "p11", problem.statement, 3).pipe(
        Effect.provide(scriptedModel(stubborn, calls)),
      )
      assert.strictEqual(result.stoppedBy, "cap")
      assert.strictEqual(result.steps.length, 3)
    }),
  )
})

describe("pool search", () => {
  it.effect(
    "paper variant: refines the best proofs with issue-reporting analyses until one passes every verification",
    () =>
      Effect.gen(function* () {
        const calls = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
        const store = yield* openStore(undefined)
        const config = {
          ...paperSearchDefaults,
          initialProofs: 2,
          verifications: 3,
          topProofs: 1,
          analysesPerProof: 2,
          maxRounds: 4,
        }
        const result = yield* searchProof(store, "p11", problem.statement, config).pipe(
          Effect.provide(scriptedModel(oracleScript(), calls)),
        )
        assert.isTrue(result.solved)
        assert.strictEqual(result.rounds, 1)
        assert.strictEqual(result.best!.meanScore, 1)
        assert.strictEqual(gradeProof(problem, result.best!.proof).score, 1)
        const log = yield* Ref.get(calls)
        // 2 proofs x 3 verifications, then 1 proof x 2 analyses = 2 refinements, each verified 3 times.
        assert.strictEqual(log.filter((c) => c.role === "refinement").length, 2)
        assert.strictEqual(log.filter((c) => c.role === "verifier").length, 2 * 3 + 2 * 3)
        for (const c of log.filter((c) => c.role === "refinement"))
          assert.include(c.prompt, "\\boxed{0}", "a refinement prompt shows an analysis that reports the issue")
        assert.strictEqual(result.poolSize, 4)
      }),
  )

  it.effect("released variant: one prompt per top proof sampled several times; stops on mean score 1", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
      const store = yield* openStore(undefined)
      const config = {
        ...releasedSearchDefaults,
        initialProofs: 3,
        verifications: 2,
        topProofs: 2,
        samplesPerPrompt: 2,
      }
      const result = yield* searchProof(store, "p11", problem.statement, config).pipe(
        Effect.provide(scriptedModel(oracleScript(), calls)),
      )
      assert.isTrue(result.solved)
      assert.strictEqual((yield* Ref.get(calls)).filter((c) => c.role === "refinement").length, 2 * 2)
    }),
  )

  it("released selection: at most 4 analyses per score level, lowest first; up to 8 when all agree", () => {
    const a = (score: 0 | 0.5 | 1, i: number) => ({ text: `${score}-${i}`, score })
    const mixed = [
      ...[0, 1, 2, 3, 4, 5].map((i) => a(1, i)),
      ...[0, 1].map((i) => a(0, i)),
      ...[0, 1, 2, 3, 4].map((i) => a(0.5, i)),
    ]
    assert.deepStrictEqual(
      pickReleased(mixed, 8).map((x) => x.text),
      ["0-0", "0-1", "0.5-0", "0.5-1", "0.5-2", "0.5-3", "1-0", "1-1"],
    )
    const agree = Array.from({ length: 10 }, (_, i) => a(0.5, i))
    assert.strictEqual(pickReleased(agree, 8).length, 8)
  })
})
