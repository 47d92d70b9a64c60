/**
 * Training data for the three roles from the exact oracle of the proof domain (docs/selfverify.md §10):
 *
 *   verifier   prompt(problem, proof)                 -> reference analysis, label s = oracle grade
 *   meta       prompt(problem, proof, analysis)       -> reference meta-analysis, label ms = exact meta grade;
 *                                                        the analyses are the oracle's own or corrupted ones (a
 *                                                        correct step called faulty, or the wrong score)
 *   generator  prompt(problem)                        -> a proof + its honest self-evaluation, label = its grade
 *
 * Proofs are correct or mutated (docs/selfverify.md §6) in fixed proportions, so every label occurs. Records are
 * OpenAI chat JSONL (`messages` + `metadata`), which `ds train` reads; `compactTemplates` keeps prompts short
 * enough for a small model's context, the default templates are the full rubric prompts.
 */
import * as path from "node:path"
import { Rng, writeJsonlAtomic } from "@ds/core"
import { Effect, Schema } from "effect"
import {
  correctProof,
  type DomainProblem,
  type DomainProof,
  gradeAnalysis,
  gradeProof,
  type MutationKind,
  makeProblem,
  mutateProof,
  type ProblemOptions,
  referenceAnalysis,
  referenceGeneration,
  referenceMetaAnalysis,
  renderProof,
} from "../domain/proofs.ts"
import type { Score } from "../parse.ts"
import { parseVerification } from "../parse.ts"
import { generatorPrompt, keyPhrases, metaVerifierPrompt, type PromptTemplates, verifierPrompt } from "../prompts.ts"

/** Short prompts for small models (same slots and output formats as the default templates). */
export const compactTemplates: PromptTemplates = {
  generator: "Prove, then evaluate your proof.\n{problem}\n",
  verifier: "Grade the proof.\n{problem}\n{proof}\n",
  metaVerifier: "Review the evaluation.\n{problem}\n{proof}\n{evaluation}\n",
  refinement: "Improve the proof.\n{problem}\n{candidates}\n",
}

export type TrainingRole = "verifier" | "meta" | "generator"

export interface RoleExample {
  readonly role: TrainingRole
  readonly problem: DomainProblem
  readonly prompt: string
  readonly completion: string
  /** The oracle's label of the completion's subject: s (verifier, generator) or ms (meta). */
  readonly label: Score
  /** The proof under judgement (verifier, meta) or written (generator). */
  readonly proof: string
  /** The analysis under judgement (meta only). */
  readonly analysis?: string
}

const kinds: ReadonlyArray<MutationKind | "correct"> = [
  "correct",
  "correct",
  "wrong-step",
  "skipped-step",
  "wrong-conclusion",
  "unjustified-claim",
]

/** A correct or mutated proof (one in three correct). */
export const sampleProof = (problem: DomainProblem, rng: Rng): DomainProof => {
  const kind = kinds[rng.int(0, kinds.length)]!
  return kind === "correct" ? correctProof(problem) : (mutateProof(problem, kind, rng) ?? correctProof(problem))
}

/** An analysis to meta-verify: the oracle's own (half the time), or one that blames a correct step or misgrades. */
const sampleAnalysis = (problem: DomainProblem, proofText: string, rng: Rng): string => {
  const verdict = gradeProof(problem, proofText)
  const reference = referenceAnalysis(verdict)
  const choice = rng.int(0, 4)
  if (choice < 2) return reference
  if (choice === 2) {
    const steps = proofText.split("\n").filter((line) => line.startsWith("Step")).length
    const faulty = new Set(verdict.findings.map((f) => f.step))
    const innocent = Array.from({ length: steps }, (_, i) => i + 1).filter((s) => !faulty.has(s))
    if (innocent.length > 0) {
      const blamed = innocent[rng.int(0, innocent.length)]!
      return `${keyPhrases.evaluationStart}\nStep ${blamed} is false.\n\n${keyPhrases.evaluationScore} \\boxed{0}`
    }
  }
  const wrongScore = ([0, 0.5, 1] as const).filter((s) => s !== verdict.score)[rng.int(0, 2)]!
  return reference.replace(/\\boxed\{[^}]*\}\s*$/, `\\boxed{${wrongScore}}`)
}

/** One example of `role` for a fresh problem drawn with `rng`. */
export const roleExample = (
  role: TrainingRole,
  rng: Rng,
  id: string,
  templates: Partial<PromptTemplates> = compactTemplates,
  problemOptions: ProblemOptions = {},
): RoleExample => {
  const problem = makeProblem(rng.fork("problem"), id, problemOptions)
  const proof = sampleProof(problem, rng.fork("proof"))
  const proofText = renderProof(problem, proof)
  const grade = gradeProof(problem, proofText).score
  switch (role) {
    case "verifier":
      return {
        role,
        problem,
        prompt: verifierPrompt(problem.statement, proofText, templates),
        completion: referenceAnalysis(gradeProof(problem, proofText)),
        label: grade,
        proof: proofText,
      }
    case "meta": {
      const analysis = sampleAnalysis(problem, proofText, rng.fork("analysis"))
      const meta = gradeAnalysis(problem, proofText, parseVerification(analysis).score, analysis)
      return {
        role,
        problem,
        prompt: metaVerifierPrompt(problem.statement, proofText, analysis, templates),
        completion: referenceMetaAnalysis(meta, grade),
        label: meta.score,
        proof: proofText,
        analysis,
      }
    }
    case "generator":
      return {
        role,
        problem,
        prompt: generatorPrompt(problem.statement, templates),
        completion: referenceGeneration(problem, proof),
        label: grade,
        proof: proofText,
      }
  }
}

/** Cold-start data: `perRole` examples of each role, from one seed. */
export const coldStartExamples = (
  rng: Rng,
  perRole: number,
  templates: Partial<PromptTemplates> = compactTemplates,
  problemOptions: ProblemOptions = {},
): Array<RoleExample> =>
  (["verifier", "meta", "generator"] as const).flatMap((role) =>
    Array.from({ length: perRole }, (_, i) =>
      roleExample(role, rng.fork(role).fork(i), `${role}-${i}`, templates, problemOptions),
    ),
  )

/** A chat record (OpenAI format, what `ds train` reads) with the example's role and label under `metadata`. */
export const toChatRecord = (example: RoleExample) => ({
  messages: [
    { role: "user" as const, content: example.prompt },
    { role: "assistant" as const, content: example.completion },
  ],
  metadata: { role: example.role, label: example.label, problem: example.problem.statement },
})

const ChatLine = Schema.Record(Schema.String, Schema.Unknown)

/**
 * Writes cold-start data under `out`: `verifier.jsonl`, `meta.jsonl`, `generator.jsonl` and `all.jsonl` (the three
 * shuffled together, for one model that does all roles), each line a chat record `ds train --data` reads.
 */
export const writeColdStartData = (
  out: string,
  options: {
    readonly perRole: number
    readonly seed: number
    readonly templates?: Partial<PromptTemplates>
    readonly problemOptions?: ProblemOptions
  },
) =>
  Effect.gen(function* () {
    const rng = Rng.make(options.seed)
    const examples = coldStartExamples(rng, options.perRole, options.templates, options.problemOptions)
    const files: Record<string, string> = {}
    for (const role of ["verifier", "meta", "generator"] as const) {
      files[role] = path.join(out, `${role}.jsonl`)
      yield* writeJsonlAtomic(files[role], ChatLine, examples.filter((e) => e.role === role).map(toChatRecord))
    }
    files.all = path.join(out, "all.jsonl")
    yield* writeJsonlAtomic(files.all, ChatLine, rng.fork("shuffle").shuffle(examples).map(toChatRecord))
    return { files, examples: examples.length }
  })
