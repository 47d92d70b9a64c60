/**
 * `ds selfverify train --config FILE` and `ds selfverify demo [--quick]` (docs/selfverify.md §10): the training
 * driver of @ds/selfverify (cold start -> verifier GRPO -> meta-verifier GRPO -> generator GRPO with the verifier
 * as reward model -> RFT), from a JSON config file or on the demo's preset. Rerun the same command to resume.
 */
import * as fs from "node:fs"
import { InputError } from "@ds/core"
import { decodePipelineConfig, trainingPipeline } from "@ds/selfverify"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { selfverifyDemoOutDir, selfverifyDemoProgram } from "../../recipes/selfverify-demo.ts"
import { backendFlag, seedFlag } from "../options.ts"
import { computeLayer } from "../run-compute.ts"

const readJson = (file: string) =>
  Effect.try({
    try: () => JSON.parse(fs.readFileSync(file, "utf8")) as unknown,
    catch: (error) => new InputError({ source: file, reason: `cannot read JSON: ${String(error)}` }),
  })

const pct = (x: number | null | undefined) => (typeof x === "number" ? `${(100 * x).toFixed(1)}%` : "-")
const num = (x: number | null | undefined) => (typeof x === "number" ? x.toFixed(3) : "-")

export const train = Command.make(
  "train",
  {
    config: Flag.File("config", { mustExist: true }).pipe(
      Flag.withDescription("JSON training config (every field optional; see docs/selfverify.md §10)"),
    ),
    backend: backendFlag,
  },
  (flags) =>
    Effect.gen(function* () {
      const config = yield* decodePipelineConfig(yield* readJson(flags.config))
      const report = yield* trainingPipeline(config)
      for (const s of report.stages)
        yield* Console.log(
          `${s.stage}${s.stage === "cold-start" ? "" : ` (iteration ${s.iteration})`}: verifier ${pct(s.measures.verifier.accuracy)}, meta ${pct(s.measures.meta_verifier.accuracy)}, generator oracle score ${num(s.measures.generator.oracle_score)}; ${s.seconds.toFixed(0)} s`,
        )
      if (report.autolabel !== undefined)
        yield* Console.log(
          `auto-labelling: agreement ${pct(report.autolabel.agreement_with_oracle)}, coverage ${pct(report.autolabel.coverage)}`,
        )
      yield* Console.log(`runs in ${config.out}`)
    }).pipe(Effect.provide(computeLayer(flags.backend))),
).pipe(
  Command.withDescription(
    "Train one tiny model as verifier, meta-verifier and generator on the arithmetic proof domain (resumable)",
  ),
  Command.withExamples([
    {
      command: "ds selfverify train --config packages/selfverify/data/train-smoke.json",
      description: "A minute-long smoke run of every stage; rerun to resume",
    },
  ]),
)

export const demo = Command.make(
  "demo",
  {
    quick: Flag.Boolean("quick").pipe(
      Flag.withDescription("The short preset (the driver's defaults)"),
      Flag.withDefault(false),
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription("Run folder. Default runs/selfverify-demo with --quick, runs/selfverify-demo-full without"),
      Flag.optional,
    ),
    seed: seedFlag,
    backend: backendFlag,
  },
  (flags) =>
    Effect.gen(function* () {
      const out = Option.getOrElse(flags.out, () => selfverifyDemoOutDir(flags.quick))
      const { summary, file } = yield* selfverifyDemoProgram({ quick: flags.quick, seed: flags.seed, out })
      const { verifier: v, meta_verifier: m, generator: g } = summary
      yield* Console.log(
        `verifier accuracy ${pct(v.accuracy_before)} -> ${pct(v.accuracy_after)} (mean |error| ${num(v.mean_abs_error_before)} -> ${num(v.mean_abs_error_after)})`,
      )
      yield* Console.log(`meta-verifier accuracy ${pct(m.accuracy_before)} -> ${pct(m.accuracy_after)}`)
      yield* Console.log(
        `generator oracle score ${num(g.oracle_score_before)} -> ${num(g.oracle_score_after)} (self-evaluation error ${num(g.self_eval_error_before)} -> ${num(g.self_eval_error_after)})`,
      )
      yield* Console.log(
        `RFT model: verifier ${pct(summary.rft.verifier_accuracy)}, generator ${num(summary.rft.generator_oracle_score)}; ${summary.seconds.total.toFixed(0)} s; ${file}`,
      )
    }).pipe(Effect.provide(computeLayer(flags.backend))),
).pipe(
  Command.withDescription(
    "Train a tiny model from scratch through cold start, verifier / meta-verifier / generator GRPO and RFT; writes summary.json",
  ),
  Command.withExamples([
    { command: "ds selfverify demo --quick", description: "The short run; writes runs/selfverify-demo/summary.json" },
  ]),
)
