/**
 * `ds generate`: prompt -> text from a checkpoint, streamed as it is sampled.
 */
import { generateProgram } from "@ds/model"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlag } from "./options.ts"
import { computeLayer } from "./run-compute.ts"

export const generate = Command.make(
  "generate",
  {
    checkpoint: Flag.Directory("checkpoint", { mustExist: true }).pipe(
      Flag.withDescription("Checkpoint folder with config.json, model.safetensors and tokenizer.json"),
    ),
    prompt: Flag.String("prompt").pipe(Flag.withDescription("The prompt text")),
    raw: Flag.Boolean("raw").pipe(
      Flag.withDescription("Feed the prompt as plain text instead of a chat turn"),
      Flag.withDefault(false),
    ),
    maxNewTokens: Flag.Int("max-new-tokens").pipe(
      Flag.withDescription("Tokens to generate at most"),
      Flag.withDefault(200),
    ),
    temperature: Flag.Finite("temperature").pipe(Flag.withDescription("0 = greedy"), Flag.withDefault(0.6)),
    topK: Flag.Int("top-k").pipe(Flag.withDescription("Keep the k most likely tokens"), Flag.optional),
    topP: Flag.Finite("top-p").pipe(
      Flag.withDescription("Keep the smallest set with this probability mass"),
      Flag.optional,
    ),
    seed: Flag.Int("seed").pipe(Flag.withDefault(0)),
    backend: backendFlag,
  },
  (options) =>
    Effect.gen(function* () {
      const topK = Option.getOrUndefined(options.topK)
      const topP = Option.getOrUndefined(options.topP)
      const result = yield* generateProgram({
        checkpoint: options.checkpoint,
        prompt: options.prompt,
        template: options.raw ? "raw" : "chat",
        maxNewTokens: options.maxNewTokens,
        temperature: options.temperature,
        seed: options.seed,
        onText: (delta) => process.stdout.write(delta),
        ...(topK === undefined ? {} : { topK }),
        ...(topP === undefined ? {} : { topP }),
      })
      yield* Console.log("")
      yield* Console.error(
        `[${result.finishReason}: ${result.promptTokens} prompt + ${result.completionTokens} generated tokens]`,
      )
    }).pipe(Effect.provide(computeLayer(options.backend))),
).pipe(
  Command.withDescription("Generate text from a checkpoint, streaming tokens as they are sampled"),
  Command.withExamples([
    {
      command: 'ds generate --checkpoint runs/add/checkpoint --raw --prompt "123+456=" --temperature 0',
      description: "Greedy answer of a model trained by `ds train`",
    },
  ]),
)
