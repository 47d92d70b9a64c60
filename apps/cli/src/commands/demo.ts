/**
 * `ds demo`: the project's main job on embedded defaults (the recipe in ../recipes/demo.ts). Trains a tiny
 * DeepSeek-V3.2 model from scratch on a verifiable arithmetic task, then runs GRPO on it with the four V3.2
 * stabilisers, and writes <out>/summary.json with the plots.
 */
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { percent } from "../format.ts"
import { demoOutDir, demoProgram } from "../recipes/demo.ts"
import { attentionFlag, backendFlag, seedFlag, useAttention } from "./options.ts"
import { computeLayer } from "./run-compute.ts"

export const demo = Command.make(
  "demo",
  {
    quick: Flag.Boolean("quick").pipe(
      Flag.withDescription("The short preset: under 10 minutes on 2 cores"),
      Flag.withDefault(false),
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription("Run folder. Default runs/demo with --quick, runs/demo-full without"),
      Flag.optional,
    ),
    seed: seedFlag,
    backend: backendFlag,
    attention: attentionFlag,
  },
  (options) =>
    Effect.gen(function* () {
      yield* useAttention(options.attention)
      const out = Option.getOrElse(options.out, () => demoOutDir(options.quick))
      const summary = yield* demoProgram({ quick: options.quick, seed: options.seed, out })
      const { sft, grpo } = summary
      yield* Console.log(`\nSFT: validation accuracy ${percent(sft.validation_accuracy)} after ${sft.steps} steps`)
      yield* Console.log(
        `GRPO: reward ${grpo.reward_before.toFixed(3)} -> ${grpo.reward_after.toFixed(3)}, test accuracy ${percent(grpo.accuracy_before)} -> ${percent(grpo.accuracy_after)}`,
      )
      yield* Console.log(
        `stabilisers: OPSM masked ${percent(grpo.opsm_masked_frac)} of sequences; top-p kept set < vocabulary at ${percent(grpo.kept_truncated_frac)} of steps (mean ${grpo.kept_tokens_mean.toFixed(2)} tokens)`,
      )
      yield* Console.log(`time: ${summary.seconds.total.toFixed(0)} s; summary and plots in ${out}`)
    }).pipe(Effect.provide(computeLayer(options.backend))),
).pipe(
  Command.withDescription(
    "Train a tiny DeepSeek-V3.2 model from scratch on arithmetic, then improve it with GRPO; writes summary.json and plots",
  ),
  Command.withExamples([
    { command: "ds demo --quick", description: "The whole pipeline in under 10 minutes on 2 cores; writes runs/demo" },
    { command: "ds demo", description: "The longer run (resumes if interrupted); writes runs/demo-full" },
    { command: "ds demo --quick --out runs/try2 --seed 1", description: "Another seed in another folder" },
  ]),
)
