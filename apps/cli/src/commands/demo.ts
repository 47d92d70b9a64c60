/**
 * `ds demo`: the project's main job on embedded defaults. Trains a tiny DeepSeek-V3.2 model from scratch on a
 * verifiable arithmetic task, then runs GRPO on it, and writes runs/<name>/summary.json with the plots.
 */
import { demoProgram } from "@ds/grpo"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlag } from "./options.ts"
import { computeLayer } from "./run-compute.ts"

const percent = (x: number) => `${(100 * x).toFixed(1)}%`

export const demo = Command.make(
  "demo",
  {
    quick: Flag.Boolean("quick").pipe(
      Flag.withDescription("The short preset: under 10 minutes on 2 cores"),
      Flag.withDefault(false),
    ),
    name: Flag.String("name").pipe(Flag.withDescription("Run name: runs/<name>"), Flag.optional),
    seed: Flag.Int("seed").pipe(Flag.withDescription("Seed of every random choice"), Flag.withDefault(0)),
    backend: backendFlag,
  },
  (options) =>
    Effect.gen(function* () {
      const name = Option.getOrUndefined(options.name)
      const summary = yield* demoProgram({
        quick: options.quick,
        seed: options.seed,
        ...(name === undefined ? {} : { name }),
      })
      const { sft, grpo } = summary
      yield* Console.log(`\nSFT: held-out accuracy ${percent(sft.accuracy)} after ${sft.steps} steps`)
      yield* Console.log(
        `GRPO: reward ${grpo.reward_before.toFixed(3)} -> ${grpo.reward_after.toFixed(3)}, accuracy ${percent(grpo.accuracy_before)} -> ${percent(grpo.accuracy_after)}`,
      )
      yield* Console.log(
        `time: ${summary.seconds.total.toFixed(0)} s; summary and plots in runs/${name ?? (options.quick ? "demo-quick" : "demo")}`,
      )
    }).pipe(Effect.provide(computeLayer(options.backend))),
).pipe(
  Command.withDescription(
    "Train a tiny DeepSeek-V3.2 model from scratch on arithmetic, then improve it with GRPO; writes summary.json and plots",
  ),
  Command.withExamples([
    { command: "ds demo --quick", description: "The whole pipeline in under 10 minutes on 2 cores" },
    { command: "ds demo", description: "The longer default run (resumes if interrupted)" },
  ]),
)
