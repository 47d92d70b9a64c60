/**
 * `ds dsa-demo`: DeepSeek Sparse Attention's two indexer stages on a long-context task (the recipe in
 * ../recipes/dsa-demo.ts): dense training, top-k with the untrained indexer, the indexer warm-up, the sparse stage;
 * writes <out>/summary.json with each stage's accuracy and recall@k, and the plots.
 */
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { percent } from "../format.ts"
import { dsaDemoOutDir, dsaDemoProgram } from "../recipes/dsa-demo.ts"
import { backendFlag, seedFlag } from "./options.ts"
import { computeLayer } from "./run-compute.ts"

export const dsaDemo = Command.make(
  "dsa-demo",
  {
    quick: Flag.Boolean("quick").pipe(
      Flag.withDescription("The short preset (256-token prompts): under 15 minutes on 2 cores"),
      Flag.withDefault(false),
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription("Run folder. Default runs/dsa-demo with --quick, runs/dsa-demo-full without"),
      Flag.optional,
    ),
    seed: seedFlag,
    backend: backendFlag,
  },
  (options) =>
    Effect.gen(function* () {
      const out = Option.getOrElse(options.out, () => dsaDemoOutDir(options.quick))
      const s = yield* dsaDemoProgram({ quick: options.quick, seed: options.seed, out })
      yield* Console.log(`\n${s.task}, top-${s.index_topk} selection:`)
      yield* Console.log(`dense attention:                 accuracy ${percent(s.dense.accuracy)}`)
      yield* Console.log(
        `top-k, untrained indexer:        accuracy ${percent(s.sparse_untrained.accuracy)}, recall ${percent(s.sparse_untrained.recall)}`,
      )
      yield* Console.log(`after the indexer warm-up:       recall ${percent(s.warmup.recall)}`)
      yield* Console.log(
        `after the sparse stage (top-k):  accuracy ${percent(s.sparse.accuracy)}, recall ${percent(s.sparse.recall)}`,
      )
      yield* Console.log(
        `time: ${s.seconds.total.toFixed(0)} s wall, ${s.cpu_seconds.total.toFixed(0)} s CPU; summary and plots in ${out}`,
      )
    }).pipe(Effect.provide(computeLayer(options.backend))),
).pipe(
  Command.withDescription(
    "DeepSeek Sparse Attention's indexer training on a long-context task: dense -> top-k with a random indexer -> indexer warm-up -> sparse stage; writes summary.json and plots",
  ),
  Command.withExamples([
    {
      command: "ds dsa-demo --quick",
      description: "The four stages in under 15 minutes on 2 cores; writes runs/dsa-demo",
    },
    { command: "ds dsa-demo", description: "512-token prompts and longer stages; writes runs/dsa-demo-full" },
  ]),
)
