/**
 * `ds agentdata demo`: synthesize price-lookup tasks, SFT a tiny DeepSeek-V3.2 on their oracle trajectories, then
 * GRPO it with multi-turn tool rollouts (the recipe in ../../recipes/agentdata-demo.ts, docs/agentdata.md §14).
 */
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { percent } from "../../format.ts"
import { agentDemoOutDir, agentDemoProgram } from "../../recipes/agentdata-demo.ts"
import { backendFlag, seedFlag } from "../options.ts"
import { computeLayer } from "../run-compute.ts"

export const agentdataDemo = Command.make(
  "demo",
  {
    quick: Flag.Boolean("quick").pipe(
      Flag.withDescription("The short preset (200 train tasks, 30 GRPO steps)"),
      Flag.withDefault(false),
    ),
    out: Flag.String("out").pipe(Flag.withDescription(`Run folder. Default ${agentDemoOutDir}`), Flag.optional),
    seed: seedFlag,
    backend: backendFlag,
  },
  (options) =>
    Effect.gen(function* () {
      const out = Option.getOrElse(options.out, () => agentDemoOutDir)
      const summary = yield* agentDemoProgram({ quick: options.quick, seed: options.seed, out })
      const { tasks, sft, grpo } = summary
      yield* Console.log(
        `\ntasks: ${tasks.train} train, ${tasks.validation} validation, ${tasks.test} test (${tasks.domain})`,
      )
      yield* Console.log(`SFT: ${sft.steps} steps, test pass rate ${percent(sft.pass_rate)}`)
      yield* Console.log(
        `GRPO: test pass rate ${percent(grpo.pass_rate_before)} -> ${percent(grpo.pass_rate_after)} after ${grpo.steps} steps`,
      )
      yield* Console.log(`time: ${summary.seconds.total.toFixed(0)} s; summary in ${out}/summary.json`)
    }).pipe(Effect.provide(computeLayer(options.backend))),
).pipe(
  Command.withDescription(
    "Synthesize tool-use tasks, SFT a tiny model on oracle trajectories, GRPO it with multi-turn tool rollouts",
  ),
  Command.withExamples([
    { command: "ds agentdata demo --quick", description: "The short run; writes runs/agentdata-demo/summary.json" },
    { command: "ds agentdata demo --out runs/agentdata-demo-full", description: "The longer run (resumes if killed)" },
  ]),
)
