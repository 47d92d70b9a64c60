/**
 * The `ds selfverify demo` recipe (docs/selfverify.md §10): @ds/selfverify's training driver on a preset, then
 * `runs/selfverify-demo/summary.json`:
 *
 *   verifier       accuracy / mean_abs_error before and after the verifier GRPO stage
 *   meta_verifier  accuracy before and after the meta-verifier GRPO stage
 *   generator      oracle_score / self_eval_error before and after the generator GRPO stage
 *   autolabel      n, m, k, agreement_with_oracle, coverage of scaled verification by the final model
 *   rft            verifier_accuracy, generator_oracle_score of the RFT model
 *   seconds        per stage and total;  definitions: what "before" and "after" mean;  plots: the SVG files
 *
 * "before" is the model that enters the role's GRPO stage (for the verifier: the cold-start model), "after" the
 * model it leaves; all measured greedily on held-out problems (a hash split no training stage draws from) against
 * the exact oracle (measure.ts). The last iteration's stages are reported. Rerunning after a kill resumes: done
 * stages are skipped, a cut stage continues from its checkpoint.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Backend, writeTextAtomicSync } from "@ds/core"
import { RunFileError } from "@ds/grpo"
import {
  decodePipelineConfig,
  type PipelineConfigInput,
  type StageName,
  type StageRecord,
  trainingPipeline,
} from "@ds/selfverify"
import { Effect } from "effect"

export const selfverifyDemoOutDir = (quick: boolean): string =>
  path.join("runs", quick ? "selfverify-demo" : "selfverify-demo-full")

/** The presets: the quick one is the driver's defaults (config.ts); the full one trains longer on 1–2 operations. */
export const selfverifyDemoPresets: Readonly<Record<"quick" | "full", PipelineConfigInput>> = {
  quick: {},
  full: {
    problems: { maxOps: 2 },
    coldStart: { perRole: 1000, steps: 600 },
    verifier: { steps: 80 },
    meta: { steps: 40 },
    generator: { steps: 60 },
    rft: { steps: 150 },
    eval: { prompts: 96 },
    autolabel: { proofs: 32 },
  },
}

export interface SelfverifyDemoOptions {
  readonly quick?: boolean
  readonly out?: string
  readonly seed?: number
  /** Replaces the preset (smoke tests, experiments). */
  readonly preset?: PipelineConfigInput
}

const definitions = {
  before:
    "the model entering the role's GRPO stage (verifier: the cold-start SFT model; meta-verifier: the verifier-GRPO model; generator: the meta-GRPO model)",
  after: "the model that role's GRPO stage produced",
  accuracy: "greedy parsed score equals the oracle's score, on held-out problems",
  mean_abs_error: "mean |parsed score - oracle score|; an unparsable answer counts 1",
  oracle_score: "mean oracle grade (0 / 0.5 / 1) of the greedy proofs",
  self_eval_error: "mean |self-score - oracle grade|; no self-score counts 1",
  autolabel: "agreement: labelled proofs whose label is the oracle grade / labelled; coverage: labelled / all",
}

const plotsOf = (stages: ReadonlyArray<StageRecord>, out: string) =>
  stages.flatMap((s) => {
    const dir = path.relative(out, path.dirname(s.checkpoint))
    return ["loss.svg", "reward.svg", "kl.svg", "accuracy.svg"]
      .map((f) => path.join(dir, f))
      .filter((f) => fs.existsSync(path.join(out, f)))
  })

/** Runs the demo; needs a started `Backend` and a `Progress` renderer. */
export const selfverifyDemoProgram = (options: SelfverifyDemoOptions = {}) =>
  Effect.gen(function* () {
    yield* Backend
    const quick = options.quick === true
    const out = options.out ?? selfverifyDemoOutDir(quick)
    const preset = options.preset ?? selfverifyDemoPresets[quick ? "quick" : "full"]
    const config = yield* decodePipelineConfig({ ...preset, out, seed: options.seed ?? 0 })
    const report = yield* trainingPipeline(config)
    const last = report.stages.at(-1)!.iteration
    const find = (stage: StageName) => report.stages.find((s) => s.stage === stage && s.iteration === last)
    const before = (stage: StageName) => {
      const at = find(stage)
      return at === undefined ? undefined : report.stages[report.stages.indexOf(at) - 1]
    }
    const pick = <A>(record: StageRecord | undefined, f: (r: StageRecord) => A): A | null =>
      record === undefined ? null : f(record)
    const seconds = Object.fromEntries(
      report.stages.map((s) => [s.stage === "cold-start" ? s.stage : `${s.stage}_${s.iteration}`, s.seconds]),
    )
    const total = report.stages.reduce((t, s) => t + s.seconds, 0) + (report.autolabel?.seconds ?? 0)
    const summary = {
      verifier: {
        accuracy_before: pick(before("verifier"), (r) => r.measures.verifier.accuracy),
        accuracy_after: pick(find("verifier"), (r) => r.measures.verifier.accuracy),
        mean_abs_error_before: pick(before("verifier"), (r) => r.measures.verifier.mean_abs_error),
        mean_abs_error_after: pick(find("verifier"), (r) => r.measures.verifier.mean_abs_error),
      },
      meta_verifier: {
        accuracy_before: pick(before("meta"), (r) => r.measures.meta_verifier.accuracy),
        accuracy_after: pick(find("meta"), (r) => r.measures.meta_verifier.accuracy),
      },
      generator: {
        oracle_score_before: pick(before("generator"), (r) => r.measures.generator.oracle_score),
        oracle_score_after: pick(find("generator"), (r) => r.measures.generator.oracle_score),
        self_eval_error_before: pick(before("generator"), (r) => r.measures.generator.self_eval_error),
        self_eval_error_after: pick(find("generator"), (r) => r.measures.generator.self_eval_error),
      },
      autolabel:
        report.autolabel === undefined
          ? null
          : {
              n: report.autolabel.n,
              m: report.autolabel.m,
              k: report.autolabel.k,
              agreement_with_oracle: report.autolabel.agreement_with_oracle,
              coverage: report.autolabel.coverage,
            },
      rft: {
        verifier_accuracy: pick(find("rft"), (r) => r.measures.verifier.accuracy),
        generator_oracle_score: pick(find("rft"), (r) => r.measures.generator.oracle_score),
      },
      seconds: {
        ...seconds,
        ...(report.autolabel === undefined ? {} : { autolabel: report.autolabel.seconds }),
        total,
      },
      definitions,
      held_out_prompts_per_role: config.eval.prompts,
      plots: plotsOf(report.stages, out),
    }
    const file = path.join(out, "summary.json")
    yield* Effect.try({
      try: () => writeTextAtomicSync(file, `${JSON.stringify(summary, null, 2)}\n`),
      catch: (error) => new RunFileError({ path: file, reason: String(error) }),
    })
    return { summary, file }
  })
