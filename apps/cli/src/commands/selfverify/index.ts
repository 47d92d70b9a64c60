/**
 * DeepSeekMath-V2's loop from the terminal (docs/selfverify.md §9): `ds prove`, `ds verify`, `ds meta-verify`,
 * `ds refine`, `ds search` over a problems or proofs file, with any OpenAI-compatible endpoint or a local
 * checkpoint; and `ds selfverify parse`. Each writes state.jsonl (rerun to resume), results.jsonl and report.md.
 */
import {
  metaVerifyProgram,
  paperSearchDefaults,
  proveProgram,
  type RunSummary,
  readProblems,
  readProofs,
  refineProgram,
  releasedSearchDefaults,
  searchProgram,
  verifyProgram,
} from "@ds/selfverify"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { data } from "./data.ts"
import { modelFlags, modelLayer, pricesOf } from "./model.ts"
import { parse } from "./parse.ts"
import { demo, train } from "./train.ts"

const problemsFlag = Flag.File("problems", { mustExist: true }).pipe(
  Flag.withDescription(
    "Problems: DeepSeekMath-V2's input format (a JSON array of {problem_idx, question}) or JSONL of {id, question}",
  ),
)
const proofsFlag = Flag.File("proofs", { mustExist: true }).pipe(
  Flag.withDescription(
    "Proofs: JSONL of {id, question, proof, evaluation?, evaluations?} or DeepSeekMath-V2's outputs ({question, problem_idx, model_prediction: {proof}})",
  ),
)
const outFlag = (name: string) =>
  Flag.Directory("out").pipe(
    Flag.withDescription("Output folder: state.jsonl (rerun to resume), results.jsonl, report.md"),
    Flag.withDefault(`runs/${name}`),
  )
const concurrencyFlag = Flag.Int("items").pipe(
  Flag.withDescription("Items (problems or proofs) worked on at once"),
  Flag.withDefault(4),
)
const limitFlag = Flag.Int("limit").pipe(Flag.withDescription("Only the first N items"), Flag.optional)

const take = <A>(items: ReadonlyArray<A>, limit: Option.Option<number>) =>
  Option.isSome(limit) ? items.slice(0, limit.value) : items

const done = (summary: RunSummary) =>
  Console.log(
    `${summary.results.length} items; ${summary.asked} calls asked, ${summary.reused} reused, ${summary.failures} failed; ` +
      `${summary.inputTokens} input + ${summary.outputTokens} output tokens\nresults: ${summary.resultsFile}\nreport:  ${summary.reportFile}` +
      (summary.failures > 0 ? "\nSome calls failed: rerun the same command to retry only those." : ""),
  )

const endpointExample = "--base-url https://api.deepseek.com/v1 --model deepseek-reasoner"

export const prove = Command.make(
  "prove",
  {
    problems: problemsFlag,
    iterations: Flag.Int("iterations").pipe(
      Flag.withDescription("Generation + refinements at most (stops earlier at self-score 1)"),
      Flag.withDefault(8),
    ),
    out: outFlag("prove"),
    items: concurrencyFlag,
    limit: limitFlag,
    ...modelFlags,
  },
  (flags) =>
    Effect.gen(function* () {
      const problems = take(yield* readProblems(flags.problems), flags.limit)
      const summary = yield* proveProgram(problems, flags.iterations, {
        out: flags.out,
        concurrency: flags.items,
        title: `ds prove: ${flags.problems}`,
        ...pricesOf(flags),
      })
      yield* done(summary)
    }).pipe(Effect.provide(modelLayer(flags))),
).pipe(
  Command.withDescription(
    "Write a proof and its self-evaluation for each problem, refining sequentially until the self-score is 1",
  ),
  Command.withExamples([
    {
      command: `ds prove --problems packages/selfverify/data/imo2025-problems.json ${endpointExample} --limit 1`,
      description: "IMO 2025 P1 with DeepSeek's API (key in $OPENAI_API_KEY)",
    },
    {
      command:
        "ds prove --problems packages/selfverify/data/imo2025-problems.json --checkpoint runs/add/checkpoint --limit 1 --iterations 1 --max-tokens 16",
      description: "The same loop with a local checkpoint (a tiny one writes no proof: format 0 in the report)",
    },
  ]),
)

export const verify = Command.make(
  "verify",
  {
    proofs: proofsFlag,
    n: Flag.Int("n").pipe(Flag.withDescription("Verifier analyses per proof"), Flag.withDefault(4)),
    m: Flag.Int("m").pipe(
      Flag.withDescription("Meta-verifications per issue-reporting analysis: turns on scaled-verification labelling"),
      Flag.optional,
    ),
    k: Flag.Int("k").pipe(Flag.withDescription("Valid lowest-score analyses needed to label"), Flag.withDefault(2)),
    out: outFlag("verify"),
    items: concurrencyFlag,
    limit: limitFlag,
    ...modelFlags,
  },
  (flags) =>
    Effect.gen(function* () {
      const proofs = take(yield* readProofs(flags.proofs), flags.limit)
      const summary = yield* verifyProgram(
        proofs,
        flags.n,
        Option.isSome(flags.m) ? { m: flags.m.value, k: flags.k } : undefined,
        { out: flags.out, concurrency: flags.items, title: `ds verify: ${flags.proofs}`, ...pricesOf(flags) },
      )
      yield* done(summary)
    }).pipe(Effect.provide(modelLayer(flags))),
).pipe(
  Command.withDescription(
    "Grade proofs with n verifier analyses (scores 0 / 0.5 / 1); with --m, auto-label them by scaled verification",
  ),
  Command.withExamples([
    {
      command: `ds verify --proofs packages/selfverify/data/imo2025-proofs.jsonl ${endpointExample} --n 8 --m 4 --k 2`,
      description: "DeepSeekMath-V2's own IMO 2025 proofs, auto-labelled (P6 fooled its verifier)",
    },
  ]),
)

export const metaVerify = Command.make(
  "meta-verify",
  { proofs: proofsFlag, out: outFlag("meta-verify"), items: concurrencyFlag, limit: limitFlag, ...modelFlags },
  (flags) =>
    Effect.gen(function* () {
      const items = take(yield* readProofs(flags.proofs), flags.limit)
      const summary = yield* metaVerifyProgram(items, {
        out: flags.out,
        concurrency: flags.items,
        title: `ds meta-verify: ${flags.proofs}`,
        ...pricesOf(flags),
      })
      yield* done(summary)
    }).pipe(Effect.provide(modelLayer(flags))),
).pipe(
  Command.withDescription(
    'Rate verifier analyses (the "evaluation" field of each line) with the meta-verifier: quality score ms in {0, 0.5, 1}',
  ),
  Command.withExamples([
    {
      command: `ds meta-verify --proofs runs/verify/analyses.jsonl ${endpointExample}`,
      description: "Each line {question, proof, evaluation}",
    },
  ]),
)

export const refine = Command.make(
  "refine",
  { proofs: proofsFlag, out: outFlag("refine"), items: concurrencyFlag, limit: limitFlag, ...modelFlags },
  (flags) =>
    Effect.gen(function* () {
      const items = take(yield* readProofs(flags.proofs), flags.limit)
      const summary = yield* refineProgram(items, {
        out: flags.out,
        concurrency: flags.items,
        title: `ds refine: ${flags.proofs}`,
        ...pricesOf(flags),
      })
      yield* done(summary)
    }).pipe(Effect.provide(modelLayer(flags))),
).pipe(
  Command.withDescription("Write a better proof from each proof and its evaluations (the refinement prompt)"),
  Command.withExamples([
    {
      command: `ds refine --proofs packages/selfverify/data/imo2025-proofs.jsonl ${endpointExample} --limit 1`,
      description: "Refine DeepSeekMath-V2's IMO 2025 P1 proof",
    },
  ]),
)

export const search = Command.make(
  "search",
  {
    problems: problemsFlag,
    variant: Flag.Literals("variant", ["paper", "released"] as const).pipe(
      Flag.withDescription(
        "paper: 64 proofs x 64 analyses, refine the top 64 with 8 analyses each; released: run.sh defaults",
      ),
      Flag.withDefault("released" as const),
    ),
    proofs: Flag.Int("initial-proofs").pipe(Flag.withDescription("Proofs in round 0"), Flag.optional),
    verifications: Flag.Int("verifications").pipe(Flag.withDescription("Verifications per proof"), Flag.optional),
    top: Flag.Int("top").pipe(Flag.withDescription("Proofs refined each round"), Flag.optional),
    rounds: Flag.Int("rounds").pipe(Flag.withDescription("Rounds at most"), Flag.optional),
    seed: Flag.Int("seed").pipe(Flag.withDefault(0)),
    out: outFlag("search"),
    items: Flag.Int("items").pipe(Flag.withDescription("Problems searched at once"), Flag.withDefault(1)),
    limit: limitFlag,
    ...modelFlags,
  },
  (flags) =>
    Effect.gen(function* () {
      const problems = take(yield* readProblems(flags.problems), flags.limit)
      const base = flags.variant === "paper" ? paperSearchDefaults : releasedSearchDefaults
      const config = {
        ...base,
        seed: flags.seed,
        ...(Option.isSome(flags.proofs) ? { initialProofs: flags.proofs.value } : {}),
        ...(Option.isSome(flags.verifications) ? { verifications: flags.verifications.value } : {}),
        ...(Option.isSome(flags.top) ? { topProofs: flags.top.value } : {}),
        ...(Option.isSome(flags.rounds) ? { maxRounds: flags.rounds.value } : {}),
      }
      const summary = yield* searchProgram(problems, config, {
        out: flags.out,
        concurrency: flags.items,
        title: `ds search (${flags.variant}): ${flags.problems}`,
        ...pricesOf(flags),
      })
      yield* done(summary)
    }).pipe(Effect.provide(modelLayer(flags))),
).pipe(
  Command.withDescription(
    "Pool search: many proofs, many verifications each, refine the best with their analyses, until one passes all",
  ),
  Command.withExamples([
    {
      command: `ds search --problems packages/selfverify/data/imo2025-problems.json ${endpointExample} --limit 1 --initial-proofs 8 --verifications 4 --top 4 --rounds 2`,
      description: "A small search on IMO 2025 P1 (the released defaults are 128 proofs x 64 verifications, 16 rounds)",
    },
  ]),
)

export const selfverify = Command.make("selfverify").pipe(
  Command.withDescription(
    "DeepSeekMath-V2 self-verification tools (see also ds prove / verify / meta-verify / refine / search)",
  ),
  Command.withSubcommands([parse, data, train, demo]),
)

/** Every self-verification command, registered in cli.ts with one line. */
export const selfverifyCommands = [selfverify, prove, verify, metaVerify, refine, search] as const
