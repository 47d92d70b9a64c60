/**
 * Held-out measurement of one model in every role against the exact oracle (docs/selfverify.md §10):
 *
 *   split         a problem is held out iff fnv1a(statement expression) mod 5 = 0; training never draws one
 *   verifier      accuracy = P(parsed s' = oracle s),  mean_abs_error = E|s' − s|  (no parsable score: error 1)
 *   meta          accuracy = P(parsed ms' = exact meta grade ms)
 *   generator     oracle_score = E[oracle grade of the written proof]  (unsplittable output: the whole text)
 *                 self_eval_error = E|self-score − oracle grade|       (no parsable self-score: error 1)
 *
 * Completions are greedy (temperature 0) and batched, from the same held-out prompts for every model, so "before"
 * and "after" compare like with like.
 */
import { Rng } from "@ds/core"
import { numeric } from "@ds/grpo"
import { generate, type Model, type TextTokenizer } from "@ds/model"
import { Effect } from "effect"
import type { Expr } from "../domain/expression.ts"
import { show } from "../domain/expression.ts"
import { gradeProof, type ProblemOptions } from "../domain/proofs.ts"
import { parseGeneration, parseMetaVerification, parseVerification } from "../parse.ts"
import type { PromptTemplates } from "../prompts.ts"
import { compactTemplates, type RoleExample, roleExample, type TrainingRole } from "./data.ts"
import { chatPromptText } from "./tokenizer.ts"

/** FNV-1a of a string (32 bits). */
const fnv1a = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/** The held-out split of the domain: one expression in five, by hash. */
export const isHeldOut = (expression: Expr): boolean => fnv1a(show(expression)) % 5 === 0

/** Problem options restricted to the training (`heldOut` false) or held-out side of the split. */
export const splitOptions = (options: ProblemOptions, heldOut: boolean): ProblemOptions => ({
  ...options,
  accept: (e) => isHeldOut(e) === heldOut && (options.accept?.(e) ?? true),
})

export interface RoleMeasures {
  readonly verifier: { readonly accuracy: number; readonly mean_abs_error: number }
  readonly meta_verifier: { readonly accuracy: number }
  readonly generator: { readonly oracle_score: number; readonly self_eval_error: number }
}

export interface MeasureOptions {
  /** Held-out prompts per role. */
  readonly prompts: number
  readonly seed: number
  /** Longest answer per role, in tokens. */
  readonly maxNewTokens: Readonly<Record<TrainingRole, number>>
  readonly problemOptions?: ProblemOptions
  readonly templates?: Partial<PromptTemplates>
  /** Sequences decoded at once. Default 32. */
  readonly batch?: number
}

const mean = (xs: ReadonlyArray<number>) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length)

/** The fixed held-out examples of `role`. */
export const heldOutExamples = (role: TrainingRole, options: MeasureOptions): Array<RoleExample> => {
  const rng = Rng.make(options.seed).fork("heldout").fork(role)
  const problems = splitOptions(options.problemOptions ?? {}, true)
  return Array.from({ length: options.prompts }, (_, i) =>
    roleExample(role, rng.fork(i), `heldout-${role}-${i}`, options.templates ?? compactTemplates, problems),
  )
}

/** Greedy completions of `prompts` (decoded text, special tokens dropped). */
export const greedyCompletions = (
  model: Model,
  tokenizer: TextTokenizer,
  prompts: ReadonlyArray<string>,
  maxNewTokens: number,
  batch = 32,
) =>
  numeric("held-out measurement", () => {
    const out: Array<string> = []
    for (let start = 0; start < prompts.length; start += batch) {
      const tokens = prompts.slice(start, start + batch).map((p) => tokenizer.encode(chatPromptText(p)))
      const generations = generate(model, tokens, {
        maxNewTokens,
        sampling: { temperature: 0 },
        stopTokens: tokenizer.eosId === undefined ? [] : [tokenizer.eosId],
        rng: Rng.make(0),
      })
      for (const g of generations) out.push(tokenizer.decode(g.tokens, { skipSpecialTokens: true }))
    }
    return out
  })

/** Measures `model` in the three roles on the held-out prompts. */
export const measureRoles = (model: Model, tokenizer: TextTokenizer, options: MeasureOptions) =>
  Effect.gen(function* () {
    const answers = (role: TrainingRole) => {
      const examples = heldOutExamples(role, options)
      return Effect.map(
        greedyCompletions(
          model,
          tokenizer,
          examples.map((e) => e.prompt),
          options.maxNewTokens[role],
          options.batch,
        ),
        (texts) => examples.map((example, i) => ({ example, text: texts[i] ?? "" })),
      )
    }
    const verifier = (yield* answers("verifier")).map(({ example, text }) => ({
      score: parseVerification(text).score,
      label: example.label,
    }))
    const meta = (yield* answers("meta")).map(
      ({ example, text }) => parseMetaVerification(text).score === example.label,
    )
    const generated = (yield* answers("generator")).map(({ example, text }) => {
      const parse = parseGeneration(text)
      const grade = gradeProof(example.problem, parse.proof).score
      return { grade, error: parse.self_score === null ? 1 : Math.abs(parse.self_score - grade) }
    })
    return {
      verifier: {
        accuracy: mean(verifier.map((v) => (v.score === v.label ? 1 : 0))),
        mean_abs_error: mean(verifier.map((v) => (v.score === null ? 1 : Math.abs(v.score - v.label)))),
      },
      meta_verifier: { accuracy: mean(meta.map((ok) => (ok ? 1 : 0))) },
      generator: {
        oracle_score: mean(generated.map((g) => g.grade)),
        self_eval_error: mean(generated.map((g) => g.error)),
      },
    } satisfies RoleMeasures
  })
