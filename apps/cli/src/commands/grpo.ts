/**
 * `ds grpo --config FILE`: GRPO as scaled in DeepSeek-V3.2 on a checkpoint, from a JSON run file.
 */
import { grpoProgram } from "@ds/grpo"
import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlag } from "./options.ts"
import { computeLayer } from "./run-compute.ts"

export const grpo = Command.make(
  "grpo",
  {
    config: Flag.File("config", { mustExist: true }).pipe(
      Flag.withDescription(
        'JSON run file: {"checkpoint", "runDir", "task": {"type": "addition" | "jsonl", …}, "grpo": {…config…}}',
      ),
    ),
    backend: backendFlag,
  },
  (options) =>
    Effect.gen(function* () {
      const result = yield* grpoProgram(options.config)
      yield* Console.log(`GRPO finished after ${result.steps} steps; run folder ${result.runDir}`)
      if (result.finalEvaluation !== undefined) yield* Console.log(JSON.stringify(result.finalEvaluation))
    }).pipe(Effect.provide(computeLayer(options.backend))),
).pipe(
  Command.withDescription(
    "Fine-tune a checkpoint with GRPO (group advantages, clipped surrogate, unbiased KL, off-policy masking, Keep Routing, Keep Sampling Mask); resumable",
  ),
  Command.withExamples([
    {
      command: "ds grpo --config grpo.json",
      description:
        'With grpo.json = {"checkpoint": "runs/add/checkpoint", "runDir": "runs/grpo", "task": {"type": "addition", "digits": 2}}',
    },
  ]),
)
