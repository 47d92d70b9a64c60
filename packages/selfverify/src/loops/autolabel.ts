/**
 * Automatic labelling with scaled verification (docs/selfverify.md §5, §7.1):
 *
 *   1. n verifier analyses of the proof
 *   2. for each analysis that reports issues (score 0 or 0.5): m meta-verifications; the analysis is VALID when
 *      more than half of them confirm it (ms ≥ `confirmAt`, default 1)
 *   3. among the analyses giving the LOWEST score: at least k valid -> label = that score
 *      no valid issue anywhere (none reported, or every reported one invalid) -> label 1
 *      otherwise -> "needs-review" (discard, or send to a human)
 *
 * Analyses whose score cannot be parsed take no part (they are counted). Every call is a resumable unit.
 */
import { Effect, Option } from "effect"
import type { Score } from "../parse.ts"
import { metaVerify, type RoleOptions, verifyProof } from "../roles.ts"
import type { WorkStore } from "./store.ts"

export interface AutoLabelConfig {
  /** Verifier analyses per proof. */
  readonly n: number
  /** Meta-verifications per issue-reporting analysis. */
  readonly m: number
  /** Valid lowest-score analyses needed to label. */
  readonly k: number
  /** A meta-verification confirms an analysis when ms ≥ this. Default 1. */
  readonly confirmAt?: number
  /** Calls in flight at once (the provider has its own limit too). Default 16. */
  readonly concurrency?: number
}

export interface LabelledAnalysis {
  readonly index: number
  readonly score: Score | null
  readonly metaScores: ReadonlyArray<Score | null>
  /** Issue-reporting analyses only: confirmed by a majority of meta-verifications. */
  readonly valid: boolean | null
}

export interface AutoLabel {
  readonly key: string
  readonly label: Score | "needs-review"
  readonly analyses: ReadonlyArray<LabelledAnalysis>
  /** Analyses that could not be parsed or whose call failed. */
  readonly unusable: number
}

/** The decision of step 3, from the analyses' scores and validity (pure; tested on scripted analyses). */
export const decideLabel = (analyses: ReadonlyArray<LabelledAnalysis>, k: number): Score | "needs-review" => {
  const scored = analyses.filter((a): a is LabelledAnalysis & { score: Score } => a.score !== null)
  const issues = scored.filter((a) => a.score < 1)
  if (issues.length === 0 || issues.every((a) => a.valid !== true)) return 1
  const lowest = Math.min(...issues.map((a) => a.score)) as Score
  const validLowest = issues.filter((a) => a.score === lowest && a.valid === true).length
  return validLowest >= k ? lowest : "needs-review"
}

export const autoLabel = (
  store: WorkStore,
  key: string,
  problem: string,
  proof: string,
  config: AutoLabelConfig,
  roles: RoleOptions = {},
) =>
  Effect.gen(function* () {
    const concurrency = config.concurrency ?? 16
    const confirmAt = config.confirmAt ?? 1
    const verifications = yield* Effect.forEach(
      Array.from({ length: config.n }, (_, i) => i),
      (i) =>
        store.unit(`${key}/v${i}`, verifyProof(problem, proof, roles)).pipe(Effect.tap(() => store.tick("verify"))),
      { concurrency },
    )
    const analyses = yield* Effect.forEach(
      verifications,
      (verification, index) =>
        Effect.gen(function* () {
          if (Option.isNone(verification)) return { index, score: null, metaScores: [], valid: null }
          const score = verification.value.parse.score
          if (score === null || score === 1) return { index, score, metaScores: [], valid: null }
          const metas = yield* Effect.forEach(
            Array.from({ length: config.m }, (_, j) => j),
            (j) =>
              store
                .unit(`${key}/v${index}/m${j}`, metaVerify(problem, proof, verification.value.text, roles))
                .pipe(Effect.tap(() => store.tick("meta-verify"))),
            { concurrency },
          )
          const metaScores = metas.map((meta) => (Option.isSome(meta) ? meta.value.parse.score : null))
          const confirmations = metaScores.filter((ms) => ms !== null && ms >= confirmAt).length
          return { index, score, metaScores, valid: confirmations * 2 > config.m }
        }),
      { concurrency },
    )
    const label: AutoLabel = {
      key,
      label: decideLabel(analyses, config.k),
      analyses,
      unusable: analyses.filter((a) => a.score === null).length,
    }
    return label
  })
