/**
 * The programs behind `ds prove | verify | meta-verify | refine | search` (docs/selfverify.md §9): read problems or
 * proofs, run a loop for each item over whatever `LanguageModel` is provided, and write, in the output folder,
 *
 *   state.jsonl     every model answer, keyed (resume: rerun the same command; nothing done is asked again)
 *   results.jsonl   one line per item (rewritten atomically at the end of each run)
 *   report.md       per-item table, calls asked / reused / failed, tokens and cost
 *
 * A model call that fails after the provider's retries leaves its item "incomplete" with the reason; the other
 * items go on, and a rerun retries only what is missing.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { InputError, writeJsonlAtomic, writeTextAtomicSync } from "@ds/core"
import { Effect, Option, Schema } from "effect"
import { type AutoLabelConfig, autoLabel } from "./loops/autolabel.ts"
import { refineSequentially, type SearchConfig, searchProof } from "./loops/search.ts"
import { openStore, type WorkStore } from "./loops/store.ts"
import { type RoleOptions, refineProof, metaVerify as runMetaVerify, verifyProof } from "./roles.ts"

export interface ProblemInput {
  readonly id: string
  readonly question: string
}

export interface ProofInput extends ProblemInput {
  readonly proof: string
  /** Evaluations shown with the proof (refine) or the one to meta-verify (meta-verify). */
  readonly evaluations: ReadonlyArray<string>
}

const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {}

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)

const readRecords = (file: string) =>
  Effect.try({
    try: (): Array<Record<string, unknown>> => {
      const text = fs.readFileSync(file, "utf8")
      if (/\.json$/i.test(file)) {
        const parsed = JSON.parse(text) as unknown
        return (Array.isArray(parsed) ? parsed : [parsed]).map(asRecord)
      }
      return text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => asRecord(JSON.parse(line)))
    },
    catch: (error) =>
      new InputError({
        source: file,
        reason: `cannot read it as JSON (an array) or JSONL (one object per line): ${error instanceof Error ? error.message : String(error)}`,
      }),
  })

const idOf = (record: Record<string, unknown>, index: number): string =>
  str(record.problem_idx) ?? (record.id === undefined ? undefined : String(record.id)) ?? `item-${index}`

const questionOf = (record: Record<string, unknown>): string | undefined =>
  str(record.question) ?? str(record.problem) ?? str(record.statement)

/** Problems: DeepSeekMath-V2's input format (`{id, question, problem_idx, …}` in a JSON array) or JSONL. */
export const readProblems = (file: string) =>
  Effect.flatMap(readRecords(file), (records) =>
    Effect.forEach(records, (record, i) => {
      const question = questionOf(record)
      return question === undefined
        ? Effect.fail(new InputError({ source: `${file}:${i + 1}`, reason: 'no "question" (or "problem") field' }))
        : Effect.succeed<ProblemInput>({ id: idOf(record, i), question })
    }),
  )

/**
 * Proofs: `{question, proof, evaluation?, evaluations?}` per line, or DeepSeekMath-V2's output format
 * (`{question, problem_idx, model_prediction: {proof}}`).
 */
export const readProofs = (file: string) =>
  Effect.flatMap(readRecords(file), (records) =>
    Effect.forEach(records, (record, i) => {
      const question = questionOf(record)
      const proof = str(record.proof) ?? str(asRecord(record.model_prediction).proof)
      if (question === undefined || proof === undefined)
        return Effect.fail(
          new InputError({
            source: `${file}:${i + 1}`,
            reason: 'needs "question" and "proof" (or model_prediction.proof)',
          }),
        )
      const evaluations = [
        ...(str(record.evaluation) === undefined ? [] : [str(record.evaluation)!]),
        ...(Array.isArray(record.evaluations)
          ? record.evaluations.filter((e): e is string => typeof e === "string")
          : []),
      ]
      return Effect.succeed<ProofInput>({ id: idOf(record, i), question, proof, evaluations })
    }),
  )

export interface RunOptions {
  /** Output folder (state.jsonl, results.jsonl, report.md). */
  readonly out: string
  readonly roles?: RoleOptions
  /** Items processed at once. Default 4. */
  readonly concurrency?: number
  /** USD per million input / output tokens, for the cost line of the report. */
  readonly pricePerMillion?: { readonly input: number; readonly output: number }
  /** Title of the report. */
  readonly title: string
}

export interface RunSummary {
  readonly results: ReadonlyArray<Record<string, unknown>>
  readonly asked: number
  readonly reused: number
  readonly failures: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly resultsFile: string
  readonly reportFile: string
}

const cell = (value: unknown): string =>
  value === null || value === undefined
    ? "–"
    : typeof value === "number"
      ? String(Math.round(value * 1000) / 1000)
      : String(value).replace(/\|/g, "\\|").replace(/\n/g, " ").slice(0, 80)

/** The markdown report: one row per item (columns = `columns`), then the accounting. */
export const renderReport = (
  title: string,
  results: ReadonlyArray<Record<string, unknown>>,
  columns: ReadonlyArray<string>,
  store: WorkStore,
  price?: { readonly input: number; readonly output: number },
): string => {
  const usage = store.usage()
  const thisRun = store.usageThisRun()
  const lines = [
    `# ${title}`,
    "",
    `| ${columns.join(" | ")} |`,
    `| ${columns.map(() => "---").join(" | ")} |`,
    ...results.map((r) => `| ${columns.map((c) => cell(r[c])).join(" | ")} |`),
    "",
    "## Accounting",
    "",
    `- model calls: ${store.asked()} asked in this run, ${store.reused()} reused from state.jsonl, ${store.failures().length} failed`,
    `- tokens (all runs): ${usage.inputTokens} input, ${usage.outputTokens} output; this run: ${thisRun.inputTokens} input, ${thisRun.outputTokens} output`,
    ...(price === undefined
      ? []
      : [
          `- cost (all runs): $${((usage.inputTokens * price.input + usage.outputTokens * price.output) / 1e6).toFixed(4)} at $${price.input} / $${price.output} per million input / output tokens`,
        ]),
    ...(store.failures().length === 0
      ? []
      : [
          "",
          "## Failed calls (rerun the same command to retry them)",
          "",
          ...store.failures().map((f) => `- \`${f.key}\`: ${f.message}`),
        ]),
    "",
  ]
  return lines.join("\n")
}

const ResultLine = Schema.Record(Schema.String, Schema.Unknown)

const finish = (
  options: RunOptions,
  store: WorkStore,
  results: ReadonlyArray<Record<string, unknown>>,
  columns: ReadonlyArray<string>,
) =>
  Effect.gen(function* () {
    yield* store.finishProgress()
    const resultsFile = path.join(options.out, "results.jsonl")
    const reportFile = path.join(options.out, "report.md")
    yield* writeJsonlAtomic(resultsFile, ResultLine, results)
    yield* Effect.try({
      try: () =>
        writeTextAtomicSync(reportFile, renderReport(options.title, results, columns, store, options.pricePerMillion)),
      catch: (error) => new InputError({ source: reportFile, reason: String(error) }),
    })
    const usage = store.usage()
    const summary: RunSummary = {
      results,
      asked: store.asked(),
      reused: store.reused(),
      failures: store.failures().length,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      resultsFile,
      reportFile,
    }
    return summary
  })

const storeFor = (options: RunOptions) => openStore(path.join(options.out, "state.jsonl"))

/**
 * The shape of every program: open the run's store, run `each` over the items (`options.concurrency` at once, else
 * `defaultConcurrency`), then write the results and the report with `columns`.
 */
const runEach = <I, E, R>(
  items: ReadonlyArray<I>,
  options: RunOptions,
  defaultConcurrency: number,
  each: (store: WorkStore, item: I) => Effect.Effect<Record<string, unknown>, E, R>,
  columns: ReadonlyArray<string>,
) =>
  Effect.gen(function* () {
    const store = yield* storeFor(options)
    const results = yield* Effect.forEach(items, (item) => each(store, item), {
      concurrency: options.concurrency ?? defaultConcurrency,
    })
    return yield* finish(options, store, results, columns)
  })

/** `ds prove`: generate a proof + self-evaluation, refine sequentially until self-score 1 or `iterations`. */
export const proveProgram = (problems: ReadonlyArray<ProblemInput>, iterations: number, options: RunOptions) =>
  runEach(
    problems,
    options,
    4,
    (store, problem) =>
      Effect.map(refineSequentially(store, problem.id, problem.question, iterations, options.roles), (r) => ({
        id: problem.id,
        question: problem.question,
        proof: r.final?.proof ?? null,
        self_score: r.final?.selfScore ?? null,
        format_ok: r.final?.formatOk ?? false,
        iterations: r.steps.length,
        stopped_by: r.stoppedBy,
        status: r.stoppedBy === "failure" ? "incomplete" : "done",
      })),
    ["id", "self_score", "format_ok", "iterations", "stopped_by", "status"],
  )

/** `ds verify`: n analyses per proof; with `autolabel`, scaled verification's label as well. */
export const verifyProgram = (
  proofs: ReadonlyArray<ProofInput>,
  n: number,
  autolabel: Omit<AutoLabelConfig, "n"> | undefined,
  options: RunOptions,
) =>
  runEach(
    proofs,
    options,
    4,
    (store, item) =>
      Effect.gen(function* () {
        if (autolabel !== undefined) {
          const label = yield* autoLabel(store, item.id, item.question, item.proof, { ...autolabel, n }, options.roles)
          const scores = label.analyses.map((a) => a.score)
          const valid = scores.filter((s): s is 0 | 0.5 | 1 => s !== null)
          return {
            id: item.id,
            question: item.question,
            scores,
            mean_score: valid.length === 0 ? null : valid.reduce((a: number, b) => a + b, 0) / valid.length,
            label: label.label,
            valid_analyses: label.analyses.filter((a) => a.valid === true).length,
            status: label.unusable > 0 ? "incomplete" : "done",
          }
        }
        const outputs = yield* Effect.forEach(
          Array.from({ length: n }, (_, i) => i),
          (i) =>
            store
              .unit(`${item.id}/v${i}`, verifyProof(item.question, item.proof, options.roles))
              .pipe(Effect.tap(() => store.tick("verify"))),
          { concurrency: 16 },
        )
        const scores = outputs.map((o) => (Option.isSome(o) ? o.value.parse.score : null))
        const valid = scores.filter((s): s is 0 | 0.5 | 1 => s !== null)
        return {
          id: item.id,
          question: item.question,
          scores,
          mean_score: valid.length === 0 ? null : valid.reduce((a: number, b) => a + b, 0) / valid.length,
          analyses: outputs.map((o) => (Option.isSome(o) ? o.value.text : null)),
          status: outputs.some(Option.isNone) ? "incomplete" : "done",
        }
      }),
    autolabel === undefined
      ? ["id", "mean_score", "scores", "status"]
      : ["id", "label", "mean_score", "valid_analyses", "status"],
  )

/** `ds meta-verify`: the meta-verifier's quality score of each (problem, proof, evaluation). */
export const metaVerifyProgram = (items: ReadonlyArray<ProofInput>, options: RunOptions) =>
  runEach(
    items,
    options,
    4,
    (store, item) =>
      Effect.gen(function* () {
        const evaluation = item.evaluations[0]
        if (evaluation === undefined)
          return { id: item.id, ms: null, format_ok: false, status: 'skipped: no "evaluation" field' }
        const out = yield* store
          .unit(`${item.id}/meta`, runMetaVerify(item.question, item.proof, evaluation, options.roles))
          .pipe(Effect.tap(() => store.tick("meta-verify")))
        return Option.isNone(out)
          ? { id: item.id, ms: null, format_ok: false, status: "incomplete" }
          : {
              id: item.id,
              ms: out.value.parse.score,
              format_ok: out.value.parse.format_ok,
              error: out.value.parse.error,
              analysis: out.value.text,
              status: "done",
            }
      }),
    ["id", "ms", "format_ok", "status"],
  )

/** `ds refine`: one refinement of each proof with its evaluations. */
export const refineProgram = (items: ReadonlyArray<ProofInput>, options: RunOptions) =>
  runEach(
    items,
    options,
    4,
    (store, item) =>
      Effect.map(
        store
          .unit(
            `${item.id}/refine`,
            refineProof(item.question, [{ proof: item.proof, evaluations: item.evaluations }], options.roles),
          )
          .pipe(Effect.tap(() => store.tick("refine"))),
        (out) =>
          Option.isNone(out)
            ? { id: item.id, proof: null, self_score: null, format_ok: false, status: "incomplete" }
            : {
                id: item.id,
                question: item.question,
                proof: out.value.parse.proof,
                self_score: out.value.parse.self_score,
                format_ok: out.value.parse.format_ok,
                self_evaluation: out.value.parse.self_evaluation,
                status: "done",
              },
      ),
    ["id", "self_score", "format_ok", "status"],
  )

/** `ds search`: pool search (paper variant or the released code's defaults) for each problem. */
export const searchProgram = (problems: ReadonlyArray<ProblemInput>, config: SearchConfig, options: RunOptions) =>
  runEach(
    problems,
    options,
    1,
    (store, problem) =>
      Effect.map(searchProof(store, problem.id, problem.question, config, options.roles), (r) => ({
        id: problem.id,
        question: problem.question,
        best_proof: r.best?.proof ?? null,
        mean_score: r.best?.meanScore ?? null,
        self_score: r.best?.selfScore ?? null,
        verifications: r.best?.analyses.length ?? 0,
        rounds: r.rounds,
        solved: r.solved,
        pool_size: r.poolSize,
      })),
    ["id", "solved", "mean_score", "self_score", "rounds", "pool_size"],
  )
