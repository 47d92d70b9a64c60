/**
 * The command tree of `ds`. Each subcommand lives in its own file under `commands/`; to add one, import it and
 * append it to `commands` (one line each, in the order `ds --help` lists them).
 */
import { createRequire } from "node:module"
import { Command } from "effect/cli"
import { agentdata } from "./commands/agentdata/index.ts"
import { bench } from "./commands/bench.ts"
import { demo } from "./commands/demo.ts"
import { dsaDemo } from "./commands/dsa-demo.ts"
import { forward } from "./commands/forward.ts"
import { generate } from "./commands/generate.ts"
import { grpo } from "./commands/grpo.ts"
import { selfverifyCommands } from "./commands/selfverify/index.ts"
import { serve } from "./commands/serve.ts"
import { train } from "./commands/train.ts"

export const version: string = (createRequire(import.meta.url)("../package.json") as { version: string }).version

/** Every subcommand of `ds`. */
// biome-ignore format: one command per line, so that adding a command is a one-line change
export const commands = [
  demo,
  dsaDemo,
  train,
  generate,
  grpo,
  forward,
  bench,
  serve,
  agentdata,
  ...selfverifyCommands,
] as const

export const ds = Command.make("ds").pipe(
  Command.withDescription(
    "DeepSeek-V3.2 and DeepSeekMath-V2 methods on Node.js: sparse attention kernels, the MoE transformer, GRPO.",
  ),
  Command.withExamples([{ command: "ds bench", description: "Measure the tensor kernels on this machine" }]),
  Command.withSubcommands(commands),
)
