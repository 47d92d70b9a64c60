import { Rng } from "@ds/core"
import { type ScoredSample, scoreRewards } from "@ds/grpo"
import { byteTokenizer } from "@ds/model"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import {
  coldStartExamples,
  correctProof,
  type DomainProblem,
  exactMetaScore,
  generatorTask,
  gradeAnalysis,
  gradeProof,
  keyPhrases,
  metaVerifierTask,
  modelJudge,
  oracleJudge,
  parseGeneration,
  parseMetaVerification,
  parseVerification,
  referenceAnalysis,
  referenceGeneration,
  rejectionFineTuningSet,
  toChatRecord,
  verifierTask,
} from "../src/index.ts"
import { type Role, scriptedModel, section } from "./scripted-model.ts"

const tokenizer = byteTokenizer()

const roleProblem = (metadata: Readonly<Record<string, unknown>>): DomainProblem => ({
  id: String(metadata.problemId),
  expression: metadata.expression as DomainProblem["expression"],
  target: Number(metadata.target),
  statement: String(metadata.statement),
})

const referenceGenerationOf = (problem: DomainProblem) => referenceGeneration(problem, correctProof(problem))

/** What a reward function sees of a completion written for a prompt. */
const sampleOf = (
  prompt: { text: string; metadata: Readonly<Record<string, unknown>> },
  completion: string,
): ScoredSample => ({
  prompt: prompt.text,
  completion,
  completionTokens: [],
  truncated: false,
  metadata: prompt.metadata,
})

describe("cold-start data from the oracle", () => {
  it("every example's completion parses to its label in the role's format, and all labels occur", () => {
    const examples = coldStartExamples(Rng.make(1), 60)
    const labels = { verifier: new Set<number>(), meta: new Set<number>(), generator: new Set<number>() }
    for (const example of examples) {
      const parse =
        example.role === "verifier"
          ? parseVerification(example.completion)
          : example.role === "meta"
            ? parseMetaVerification(example.completion)
            : parseGeneration(example.completion)
      assert.isTrue(parse.format_ok, `${example.role}: ${parse.error}`)
      assert.strictEqual(parse.score, example.label)
      labels[example.role].add(example.label)
      if (example.role !== "meta") assert.strictEqual(gradeProof(example.problem, example.proof).score, example.label)
      else
        assert.strictEqual(
          gradeAnalysis(example.problem, example.proof, parseVerification(example.analysis!).score, example.analysis!)
            .score,
          example.label,
        )
    }
    for (const role of ["verifier", "meta", "generator"] as const)
      assert.deepStrictEqual([...labels[role]].sort(), [0, 0.5, 1], role)
    const record = toChatRecord(examples[0]!)
    assert.deepStrictEqual(
      record.messages.map((m) => m.role),
      ["user", "assistant"],
    )
  })

  it("the same seed gives the same data", () => {
    assert.deepStrictEqual(
      coldStartExamples(Rng.make(5), 4).map((e) => e.completion),
      coldStartExamples(Rng.make(5), 4).map((e) => e.completion),
    )
  })
})

describe("GRPO tasks of the three roles", () => {
  it.effect("verifier: the oracle's analysis earns 1, a half-off score 0.5, an unparsable answer 0", () =>
    Effect.gen(function* () {
      const task = verifierTask(tokenizer, { seed: 2, evalCount: 8 })
      assert.strictEqual(task.evalPrompts.length, 8)
      const prompts = task.trainPrompts(Rng.make(3), 12)
      for (const prompt of prompts) {
        const label = prompt.metadata.label as number
        const reference = referenceAnalysis(gradeProof(roleProblem(prompt.metadata), String(prompt.metadata.proof)))
        const off = label === 0.5 ? 1 : 0.5
        const wrong = reference.replace(/\\boxed\{[^}]*\}$/, `\\boxed{${off}}`)
        const table = yield* scoreRewards(task.rewards, [
          sampleOf(prompt, reference),
          sampleOf(prompt, wrong),
          sampleOf(prompt, "no idea"),
        ])
        assert.deepStrictEqual(table.total, [1, 0.5, 0])
      }
    }),
  )

  it.effect("enhanced verifier: the reward is multiplied by the meta score of the analysis", () =>
    Effect.gen(function* () {
      const task = verifierTask(tokenizer, { seed: 4, metaScore: exactMetaScore })
      const [prompt] = task.trainPrompts(Rng.make(9), 1)
      const label = prompt!.metadata.label as number
      // Right score, but the analysis blames Step 1 whatever the truth: ms < 1 unless Step 1 is really faulty.
      const blames = `${keyPhrases.evaluationStart}\nStep 1 is false.\n${keyPhrases.evaluationScore} \\boxed{${label}}`
      const table = yield* scoreRewards(task.rewards, [sampleOf(prompt!, blames)])
      const proof = String(prompt!.metadata.proof)
      const ms = gradeAnalysis(roleProblem(prompt!.metadata), proof, label as 0, blames).score
      assert.strictEqual(table.total[0], ms)
    }),
  )

  it.effect("meta-verifier: reward against the exact meta grade", () =>
    Effect.gen(function* () {
      const task = metaVerifierTask(tokenizer, { seed: 6 })
      const prompts = task.trainPrompts(Rng.make(1), 6)
      for (const prompt of prompts) {
        const ms = prompt.metadata.label as number
        const answer = `${keyPhrases.metaStart}\nok\n${keyPhrases.metaScore} \\boxed{${ms}}`
        const table = yield* scoreRewards(task.rewards, [sampleOf(prompt, answer)])
        assert.deepStrictEqual(table.total, [1])
      }
    }),
  )

  it.effect("generator with the oracle as judge: the paper's reward of a correct proof claiming 1 is 1", () =>
    Effect.gen(function* () {
      const task = generatorTask(tokenizer, oracleJudge, { seed: 8 })
      const [prompt] = task.trainPrompts(Rng.make(2), 1)
      const correct = referenceGenerationOf(roleProblem(prompt!.metadata))
      const table = yield* scoreRewards(task.rewards, [sampleOf(prompt!, correct), sampleOf(prompt!, "garbage")])
      assert.deepStrictEqual(table.total, [1, 0])
    }),
  )

  it.effect("generator with the verifier in the loop: the current models (scripted here) give s and ms", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make<Array<{ role: Role; prompt: string }>>([])
      const task = generatorTask(tokenizer, modelJudge(), { seed: 8 })
      const [prompt] = task.trainPrompts(Rng.make(2), 1)
      const problem = roleProblem(prompt!.metadata)
      // A verifier that always says 0.5 and a meta-verifier that always says 1: a self-score of 1 earns
      // 0.76 * 0.5 + 0.24 * (1 - 0.5) * 1 = 0.5.
      const judgeModel = scriptedModel(
        {
          respond: (text: string, role: Role) =>
            role === "meta"
              ? `${keyPhrases.metaStart}\nfine\n${keyPhrases.metaScore} \\boxed{1}`
              : `${keyPhrases.evaluationStart}\n${section(text, "Solution").length} chars\n${keyPhrases.evaluationScore} \\boxed{0.5}`,
        },
        calls,
      )
      const table = yield* scoreRewards(task.rewards, [sampleOf(prompt!, referenceGenerationOf(problem))]).pipe(
        Effect.provide(judgeModel),
      )
      assert.closeTo(table.total[0]!, 0.5, 1e-12)
      assert.deepStrictEqual(
        (yield* Ref.get(calls)).map((c) => c.role),
        ["verifier", "meta"],
      )
    }),
  )
})

describe("rejection fine-tuning set", () => {
  it("keeps only full-reward samples of every role, once each, in one shuffled set", () => {
    const set = rejectionFineTuningSet(
      [
        { role: "verifier", prompt: "a", completion: "x", reward: 1 },
        { role: "verifier", prompt: "a", completion: "x", reward: 1 },
        { role: "verifier", prompt: "b", completion: "y", reward: 0.5 },
        { role: "meta", prompt: "c", completion: "z", reward: 1 },
        { role: "generator", prompt: "d", completion: "w", reward: 0.76 },
        { role: "generator", prompt: "e", completion: "v", reward: 1 },
      ],
      0,
    )
    assert.deepStrictEqual(set.kept, {
      verifier: { kept: 1, offered: 3 },
      meta: { kept: 1, offered: 1 },
      generator: { kept: 1, offered: 2 },
    })
    assert.deepStrictEqual(set.records.map((r) => r.messages[0]!.content).sort(), ["a", "c", "e"])
  })
})
