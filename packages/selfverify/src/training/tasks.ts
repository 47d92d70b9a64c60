/**
 * GRPO tasks for the three roles (@ds/grpo's `GrpoTask`), with the rewards of docs/selfverify.md §4
 * (docs/selfverify.md §10):
 *
 *   verifier            R = R_format · (1 − |s' − s|)                 s = oracle grade of the proof
 *   enhanced verifier   R = R_format · (1 − |s' − s|) · ms             ms = meta-verifier's score of the analysis
 *   meta-verifier       R = R_format · (1 − |ms' − ms|)               ms = exact meta grade of the analysis
 *   generator           R = R_format · (α · s + β · (1 − |s' − s|) · ms)
 *                       s, ms from a `ProofJudge`: the exact oracle, or the CURRENT verifier and meta-verifier
 *                       models through `LanguageModel` (the verifier in the loop as reward model)
 *
 * Prompts are user turns of the chat template (what SFT on the chat records and `LocalModel` see), and carry what
 * the rewards need under `metadata`, so rollouts (with Keep Routing / Keep Sampling Mask data)
 * are the ordinary GRPO rollout records.
 */
import { Rng } from "@ds/core"
import type { GrpoTask, RewardFunction, TaskPrompt } from "@ds/grpo"
import type { TextTokenizer } from "@ds/model"
import { Effect } from "effect"
import type { AiError, LanguageModel } from "effect/ai"
import { type DomainProblem, gradeAnalysis, gradeProof, type ProblemOptions } from "../domain/proofs.ts"
import { parseGeneration, parseMetaVerification, parseVerification, type Score } from "../parse.ts"
import type { PromptTemplates } from "../prompts.ts"
import { type GeneratorRewardWeights, generatorReward, metaVerifierReward, verifierReward } from "../rewards.ts"
import { metaVerify, verifyProof } from "../roles.ts"
import { compactTemplates, roleExample, type TrainingRole } from "./data.ts"
import { chatPromptText } from "./tokenizer.ts"

export interface RoleTaskOptions {
  readonly seed: number
  /** Held-out prompts for evaluation (drawn from a stream the training prompts never use). Default 64. */
  readonly evalCount?: number
  readonly templates?: Partial<PromptTemplates>
  readonly problemOptions?: ProblemOptions
}

const promptOf = (
  tokenizer: TextTokenizer,
  role: TrainingRole,
  rng: Rng,
  id: string,
  options: RoleTaskOptions,
): TaskPrompt => {
  const example = roleExample(role, rng, id, options.templates ?? compactTemplates, options.problemOptions)
  return {
    id,
    text: example.prompt,
    tokens: tokenizer.encode(chatPromptText(example.prompt)),
    metadata: {
      role,
      label: example.label,
      proof: example.proof,
      statement: example.problem.statement,
      expression: example.problem.expression,
      target: example.problem.target,
      problemId: example.problem.id,
    },
  }
}

const problemOf = (metadata: Readonly<Record<string, unknown>>): DomainProblem => ({
  id: String(metadata.problemId),
  expression: metadata.expression as DomainProblem["expression"],
  target: Number(metadata.target),
  statement: String(metadata.statement),
})

const roleTask = <E, R>(
  role: TrainingRole,
  tokenizer: TextTokenizer,
  options: RoleTaskOptions,
  rewards: ReadonlyArray<RewardFunction<E, R>>,
): GrpoTask<E, R> => {
  const root = Rng.make(options.seed).fork(role)
  const evalRng = root.fork("eval")
  return {
    name: `selfverify-${role}`,
    trainPrompts: (rng, count) =>
      Array.from({ length: count }, (_, i) =>
        promptOf(tokenizer, role, rng.fork(i), `train-${rng.position}-${i}`, options),
      ),
    evalPrompts: Array.from({ length: options.evalCount ?? 64 }, (_, i) =>
      promptOf(tokenizer, role, evalRng.fork(i), `eval-${i}`, options),
    ),
    rewards,
    stopTokens: tokenizer.eosId === undefined ? [] : [tokenizer.eosId],
  }
}

/** Verifier GRPO: reward against the oracle label. With `metaScore`, the enhanced verifier's reward. */
export const verifierTask = <E = never, R = never>(
  tokenizer: TextTokenizer,
  options: RoleTaskOptions & {
    readonly metaScore?: (problem: DomainProblem, proof: string, analysis: string) => Effect.Effect<number, E, R>
  },
): GrpoTask<E, R> =>
  roleTask("verifier", tokenizer, options, [
    {
      name: options.metaScore === undefined ? "verifier" : "enhanced_verifier",
      score: (sample) => {
        const parse = parseVerification(sample.completion)
        const base = verifierReward(parse, sample.metadata.label as Score)
        if (options.metaScore === undefined || base === 0) return base
        const problem = problemOf(sample.metadata)
        return Effect.map(
          options.metaScore(problem, String(sample.metadata.proof), sample.completion),
          (ms) => base * ms,
        )
      },
    },
  ])

/** The exact meta-verifier score of an analysis (the oracle's R_meta for the enhanced verifier). */
export const exactMetaScore = (problem: DomainProblem, proof: string, analysis: string): Effect.Effect<number> =>
  Effect.sync(() => gradeAnalysis(problem, proof, parseVerification(analysis).score, analysis).score)

/** Meta-verifier GRPO: reward against the exact meta grade. */
export const metaVerifierTask = (tokenizer: TextTokenizer, options: RoleTaskOptions): GrpoTask =>
  roleTask("meta", tokenizer, options, [
    {
      name: "meta_verifier",
      score: (sample) => metaVerifierReward(parseMetaVerification(sample.completion), sample.metadata.label as Score),
    },
  ])

/** Scores a generated proof and its self-evaluation: s of the proof, ms of the self-evaluation. */
export type ProofJudge<E, R> = (
  problem: DomainProblem,
  proof: string,
  selfEvaluation: string,
) => Effect.Effect<{ readonly score: number; readonly metaScore: number }, E, R>

/** The exact oracle as judge. */
export const oracleJudge: ProofJudge<never, never> = (problem, proof, selfEvaluation) =>
  Effect.sync(() => ({
    score: gradeProof(problem, proof).score,
    metaScore: gradeAnalysis(problem, proof, parseVerification(selfEvaluation).score, selfEvaluation).score,
  }))

/**
 * The current models as judge (the paper's loop): the verifier's score of the proof and the meta-verifier's score
 * of the self-evaluation, each asked through `LanguageModel` (an unparsable answer counts as 0).
 */
export const modelJudge =
  (templates?: Partial<PromptTemplates>): ProofJudge<AiError.AiError, LanguageModel.LanguageModel> =>
  (problem, proof, selfEvaluation) =>
    Effect.gen(function* () {
      const roles = templates === undefined ? {} : { templates }
      const verification = yield* verifyProof(problem.statement, proof, roles)
      const meta = yield* metaVerify(problem.statement, proof, selfEvaluation, roles)
      return { score: verification.parse.score ?? 0, metaScore: meta.parse.score ?? 0 }
    })

/** Generator GRPO with the verifier in the loop: R = R_format · (α·s + β·(1 − |s' − s|)·ms). */
export const generatorTask = <E, R>(
  tokenizer: TextTokenizer,
  judge: ProofJudge<E, R>,
  options: RoleTaskOptions & { readonly weights?: GeneratorRewardWeights },
): GrpoTask<E, R> =>
  roleTask("generator", tokenizer, options, [
    {
      name: "generator",
      score: (sample) => {
        const parse = parseGeneration(sample.completion)
        if (!parse.format_ok) return 0
        return Effect.map(judge(problemOf(sample.metadata), parse.proof, parse.self_evaluation), (judged) =>
          generatorReward({ parse, proofScore: judged.score, metaScore: judged.metaScore }, options.weights),
        )
      },
    },
  ])
