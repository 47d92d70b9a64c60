/**
 * Inference loops of DeepSeekMath-V2 (docs/selfverify.md §7.2, §7.3): sequential refinement and pool search in two
 * variants, every model call a resumable unit of a `WorkStore`.
 *
 * Sequential refinement: generate a proof + self-evaluation; while the self-score is below 1 and the cap is not
 * reached, prompt again with the previous proof and its self-evaluation as the candidate to refine.
 *
 * Pool search, the paper's variant: the pool starts with `initialProofs` proofs, each verified `verifications`
 * times. Each round takes the `topProofs` proofs of highest mean verification score, pairs each with
 * `analysesPerProof` of its analyses chosen at random (issue-reporting ones first), and writes one refinement per
 * (proof, analysis) pair; the new proofs are verified and join the pool. Stop when a proof passes all its
 * verifications, or after `maxRounds` rounds.
 *
 * Pool search, the released code's defaults: `initialProofs` = 128 proofs; the pool is ranked by (mean score,
 * self-score); the best `topProofs` = 32 each get ONE refinement prompt holding up to 8 of its analyses (at most 4
 * per distinct score, lowest scores first; up to 8 when all agree), sampled `samplesPerPrompt` = 4 times; stop when
 * a proof's mean score exceeds 0.99999, or after 16 rounds.
 */
import { Rng } from "@ds/core"
import { Effect, Option } from "effect"
import type { GenerationParse, Score } from "../parse.ts"
import { generateProof, type RoleOptions, type RoleOutput, refineProof, verifyProof } from "../roles.ts"
import type { WorkStore } from "./store.ts"

export interface RefinementStep {
  readonly iteration: number
  readonly proof: string
  readonly selfScore: Score | null
  readonly formatOk: boolean
}

export interface SequentialResult {
  readonly key: string
  readonly steps: ReadonlyArray<RefinementStep>
  /** The last proof written (the best by self-score when the cap stopped the loop). */
  readonly final: RefinementStep | undefined
  readonly stoppedBy: "self-score-1" | "cap" | "failure"
}

/** Sequential refinement until the self-score is 1 or `maxIterations` outputs have been written. */
export const refineSequentially = (
  store: WorkStore,
  key: string,
  problem: string,
  maxIterations: number,
  roles: RoleOptions = {},
) =>
  Effect.gen(function* () {
    const steps: Array<RefinementStep> = []
    let previous: RoleOutput<GenerationParse> | undefined
    for (let t = 0; t < maxIterations; t++) {
      const output: Option.Option<RoleOutput<GenerationParse>> =
        previous === undefined
          ? yield* store.unit(`${key}/i0`, generateProof(problem, roles))
          : yield* store.unit(
              `${key}/i${t}`,
              refineProof(
                problem,
                [{ proof: previous.parse.proof, evaluations: [previous.parse.self_evaluation] }],
                roles,
              ),
            )
      yield* store.tick("refine")
      if (Option.isNone(output)) {
        const result: SequentialResult = { key, steps, final: best(steps), stoppedBy: "failure" }
        return result
      }
      previous = output.value
      steps.push({
        iteration: t,
        proof: output.value.parse.proof,
        selfScore: output.value.parse.self_score,
        formatOk: output.value.parse.format_ok,
      })
      if (output.value.parse.self_score === 1) {
        const result: SequentialResult = { key, steps, final: steps[steps.length - 1], stoppedBy: "self-score-1" }
        return result
      }
    }
    const result: SequentialResult = { key, steps, final: best(steps), stoppedBy: "cap" }
    return result
  })

const best = (steps: ReadonlyArray<RefinementStep>): RefinementStep | undefined =>
  steps.reduce<RefinementStep | undefined>(
    (a, b) => (a === undefined || (b.selfScore ?? -1) >= (a.selfScore ?? -1) ? b : a),
    undefined,
  )

export interface SearchConfig {
  readonly variant: "paper" | "released"
  /** Proofs written in round 0. Paper 64; released code 128. */
  readonly initialProofs: number
  /** Verifications of each proof. Paper 64; released run.sh 64 (code default 4). */
  readonly verifications: number
  /** Proofs refined each round. Paper 64; released code 32. */
  readonly topProofs: number
  /** Analyses shown with each proof. Paper 8 (one refinement per analysis); released code up to 8 in one prompt. */
  readonly analysesPerProof: number
  /** Released code only: samples per refinement prompt. 4. */
  readonly samplesPerPrompt: number
  /** Paper 16; released code 16. */
  readonly maxRounds: number
  /** Seed of the random choice of analyses. */
  readonly seed: number
  /** Calls in flight at once (the provider has its own limit too). Default 16. */
  readonly concurrency?: number
}

/** DeepSeekMath-V2 paper §3 (high-compute search). */
export const paperSearchDefaults: SearchConfig = {
  variant: "paper",
  initialProofs: 64,
  verifications: 64,
  topProofs: 64,
  analysesPerProof: 8,
  samplesPerPrompt: 1,
  maxRounds: 16,
  seed: 0,
}

/** DeepSeek-Math-V2 `inference/run.sh` + `main.py` defaults. */
export const releasedSearchDefaults: SearchConfig = {
  variant: "released",
  initialProofs: 128,
  verifications: 64,
  topProofs: 32,
  analysesPerProof: 8,
  samplesPerPrompt: 4,
  maxRounds: 16,
  seed: 0,
}

export interface PoolAnalysis {
  readonly text: string
  readonly score: Score | null
}

export interface PoolProof {
  readonly id: string
  readonly round: number
  readonly proof: string
  readonly selfScore: Score | null
  readonly formatOk: boolean
  readonly analyses: ReadonlyArray<PoolAnalysis>
  /** Mean of the parsed verification scores (0 when none parsed). */
  readonly meanScore: number
}

export interface SearchResult {
  readonly key: string
  readonly best: PoolProof | undefined
  readonly rounds: number
  readonly solved: boolean
  readonly poolSize: number
}

const meanOf = (analyses: ReadonlyArray<PoolAnalysis>): number => {
  const scores = analyses.flatMap((a): Array<number> => (a.score === null ? [] : [a.score]))
  return scores.length === 0 ? 0 : scores.reduce((s, x) => s + x, 0) / scores.length
}

const passesAll = (proof: PoolProof, config: SearchConfig): boolean =>
  config.variant === "paper"
    ? proof.analyses.length > 0 && proof.analyses.every((a) => a.score === 1)
    : proof.meanScore > 0.99999

const rank = (pool: ReadonlyArray<PoolProof>, config: SearchConfig): Array<PoolProof> =>
  [...pool].sort(
    (a, b) =>
      b.meanScore - a.meanScore ||
      (config.variant === "released" ? (b.selfScore ?? 0) - (a.selfScore ?? 0) : 0) ||
      (a.id < b.id ? -1 : 1),
  )

/** Paper: `count` analyses at random, issue-reporting ones first. */
const pickPaper = (analyses: ReadonlyArray<PoolAnalysis>, count: number, rng: Rng): Array<PoolAnalysis> => {
  const issues = rng.shuffle(analyses.filter((a) => a.score !== null && a.score < 1))
  const others = rng.shuffle(analyses.filter((a) => !(a.score !== null && a.score < 1)))
  return [...issues, ...others].slice(0, count)
}

/** Released code: at most 4 per distinct score, lowest scores first; up to `count` when all agree. */
export const pickReleased = (analyses: ReadonlyArray<PoolAnalysis>, count: number): Array<PoolAnalysis> => {
  const parsed = analyses.filter((a) => a.score !== null)
  const levels = [...new Set<number>(parsed.map((a) => a.score ?? 0))].sort((a, b) => a - b)
  if (levels.length <= 1) return parsed.slice(0, count)
  return levels.flatMap((level) => parsed.filter((a) => a.score === level).slice(0, 4)).slice(0, count)
}

/** Pool search for one problem (either variant). */
export const searchProof = (
  store: WorkStore,
  key: string,
  problem: string,
  config: SearchConfig,
  roles: RoleOptions = {},
) =>
  Effect.gen(function* () {
    const concurrency = config.concurrency ?? 16
    const rng = Rng.make(config.seed).fork(key)
    const verify = (id: string, output: RoleOutput<GenerationParse>, round: number) =>
      Effect.gen(function* () {
        const verdicts = yield* Effect.forEach(
          Array.from({ length: config.verifications }, (_, j) => j),
          (j) =>
            store
              .unit(`${id}/v${j}`, verifyProof(problem, output.parse.proof, roles))
              .pipe(Effect.tap(() => store.tick("verify"))),
          { concurrency },
        )
        const analyses = verdicts.flatMap((v) =>
          Option.isSome(v) ? [{ text: v.value.text, score: v.value.parse.score }] : [],
        )
        const proof: PoolProof = {
          id,
          round,
          proof: output.parse.proof,
          selfScore: output.parse.self_score,
          formatOk: output.parse.format_ok,
          analyses,
          meanScore: meanOf(analyses),
        }
        return proof
      })
    const pool: Array<PoolProof> = []
    const initial = yield* Effect.forEach(
      Array.from({ length: config.initialProofs }, (_, i) => i),
      (i) =>
        Effect.gen(function* () {
          const id = `${key}/r0/p${i}`
          const output = yield* store.unit(id, generateProof(problem, roles))
          yield* store.tick("generate")
          return Option.isSome(output) ? Option.some(yield* verify(id, output.value, 0)) : Option.none()
        }),
      { concurrency },
    )
    for (const p of initial) if (Option.isSome(p)) pool.push(p.value)
    let rounds = 0
    while (rounds < config.maxRounds && !pool.some((p) => passesAll(p, config))) {
      rounds++
      const roundRng = rng.fork(rounds)
      const top = rank(pool, config).slice(0, config.topProofs)
      const jobs =
        config.variant === "paper"
          ? top.flatMap((proof, i) =>
              pickPaper(proof.analyses, config.analysesPerProof, roundRng.fork(i)).map((analysis, j) => ({
                id: `${key}/r${rounds}/p${i}a${j}`,
                candidate: { proof: proof.proof, evaluations: [analysis.text] },
              })),
            )
          : top.flatMap((proof, i) =>
              Array.from({ length: config.samplesPerPrompt }, (_, s) => ({
                id: `${key}/r${rounds}/p${i}s${s}`,
                candidate: {
                  proof: proof.proof,
                  evaluations: pickReleased(proof.analyses, config.analysesPerProof).map((a) => a.text),
                },
              })),
            )
      const added = yield* Effect.forEach(
        jobs,
        (job) =>
          Effect.gen(function* () {
            const output = yield* store.unit(job.id, refineProof(problem, [job.candidate], roles))
            yield* store.tick("refine")
            return Option.isSome(output) ? Option.some(yield* verify(job.id, output.value, rounds)) : Option.none()
          }),
        { concurrency },
      )
      const before = pool.length
      for (const p of added) if (Option.isSome(p)) pool.push(p.value)
      if (pool.length === before) break
    }
    const solved = pool.filter((p) => passesAll(p, config))
    const result: SearchResult = {
      key,
      best: solved.length > 0 ? rank(solved, config)[0] : rank(pool, config)[0],
      rounds,
      solved: solved.length > 0,
      poolSize: pool.length,
    }
    return result
  })
