/**
 * The three roles and the refinement step over `effect/ai`'s `LanguageModel` (docs/selfverify.md §2): each builds
 * its prompt (prompts.ts), asks the model in the context, and parses the answer (parse.ts). Any layer that provides
 * `LanguageModel` plugs in: the local checkpoint (`@ds/model`'s `localLanguageModelLayer`), an OpenAI-compatible
 * endpoint (`@ds/model`'s `OpenAiCompat.layer`), or a scripted model in tests.
 *
 * An unparsable answer is a parse result with format 0, never a failure; only the model call itself fails
 * (`AiError`), and callers decide whether that loses one item or the run.
 */
import { Effect } from "effect"
import { type AiError, LanguageModel } from "effect/ai"
import {
  type GenerationParse,
  type ParseResult,
  parseGeneration,
  parseMetaVerification,
  parseVerification,
} from "./parse.ts"
import {
  generatorPrompt,
  metaVerifierPrompt,
  type PromptTemplates,
  type RefinementCandidate,
  refinementPrompt,
  verifierPrompt,
} from "./prompts.ts"

export interface TokenUsage {
  readonly inputTokens: number
  readonly outputTokens: number
}

export const noUsage: TokenUsage = { inputTokens: 0, outputTokens: 0 }

export const addUsage = (a: TokenUsage, b: TokenUsage): TokenUsage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
})

/** A model's answer: its text (reasoning excluded when the provider separates it), the parse and the tokens used. */
export interface RoleOutput<P extends ParseResult = ParseResult> {
  readonly text: string
  readonly parse: P
  readonly usage: TokenUsage
}

export interface RoleOptions {
  readonly templates?: Partial<PromptTemplates>
}

const ask = Effect.fn("selfverify.ask")(function* <P extends ParseResult>(prompt: string, parse: (text: string) => P) {
  const response = yield* LanguageModel.generateText({ prompt })
  const usage = response.usage
  return {
    text: response.text,
    parse: parse(response.text),
    usage: { inputTokens: usage.inputTokens.total ?? 0, outputTokens: usage.outputTokens.total ?? 0 },
  } satisfies RoleOutput<P>
})

/** The generator: a proof and its self-evaluation. */
export const generateProof = (
  problem: string,
  options: RoleOptions = {},
): Effect.Effect<RoleOutput<GenerationParse>, AiError.AiError, LanguageModel.LanguageModel> =>
  ask(generatorPrompt(problem, options.templates), parseGeneration)

/** The verifier: an analysis of `proof` ending in a score in {0, 0.5, 1}. */
export const verifyProof = (
  problem: string,
  proof: string,
  options: RoleOptions = {},
): Effect.Effect<RoleOutput, AiError.AiError, LanguageModel.LanguageModel> =>
  ask(verifierPrompt(problem, proof, options.templates), parseVerification)

/** The meta-verifier: an analysis of a verifier's `evaluation`, ending in the quality score ms. */
export const metaVerify = (
  problem: string,
  proof: string,
  evaluation: string,
  options: RoleOptions = {},
): Effect.Effect<RoleOutput, AiError.AiError, LanguageModel.LanguageModel> =>
  ask(metaVerifierPrompt(problem, proof, evaluation, options.templates), parseMetaVerification)

/** Refinement: a new proof and self-evaluation from earlier proofs and their evaluations. */
export const refineProof = (
  problem: string,
  candidates: ReadonlyArray<RefinementCandidate>,
  options: RoleOptions = {},
): Effect.Effect<RoleOutput<GenerationParse>, AiError.AiError, LanguageModel.LanguageModel> =>
  ask(refinementPrompt(problem, candidates, options.templates), parseGeneration)
