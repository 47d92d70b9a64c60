/**
 * `ds generate`: prompt -> text from a checkpoint, streamed as it is sampled.
 *
 * `--addition "12+34"` is for checkpoints of the built-in addition task (`ds train`): the task writes numbers
 * zero-padded to `digits` and least-significant digit first (12 + 34 with 3 digits is the raw prompt "210+430=" and
 * the answer "6400"), which no person types. The flag takes the sum as a person writes it, builds the task's prompt
 * with the task's own `additionExample`, samples greedily, and prints the answer the usual way round: `12+34=46`.
 */
import { InputError } from "@ds/core"
import { additionExample } from "@ds/grpo"
import { generateProgram } from "@ds/model"
import { Console, Effect, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { attentionFlag, backendFlag, checkpointFlag, useAttention } from "./options.ts"
import { computeLayer } from "./run-compute.ts"

/** `--addition` (or the missing prompt) is not a sum the addition checkpoint can answer. */
export class AdditionPromptError extends Schema.TaggedError<AdditionPromptError>()("AdditionPromptError", {
  input: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `--addition "${this.input}": ${this.reason}`
  }
}

/** The raw task prompt for a sum written as "12+34" or "12+34=" (operands below 10^digits). */
export const parseAddition = (input: string, digits: number) =>
  Effect.gen(function* () {
    const match = /^\s*(\d+)\s*\+\s*(\d+)\s*=?\s*$/.exec(input)
    if (match === null) return yield* new AdditionPromptError({ input, reason: 'expected "A+B" with A and B numbers' })
    const a = Number(match[1])
    const b = Number(match[2])
    const limit = 10 ** digits
    if (a >= limit || b >= limit)
      return yield* new AdditionPromptError({
        input,
        reason: `the model adds ${digits}-digit numbers (--digits ${digits}): operands must be below ${limit}`,
      })
    return { a, b, example: additionExample(a, b, digits) }
  })

/** The sum a completion spells, least-significant digit first over digits + 1 places; undefined if it is not one. */
export const readAdditionAnswer = (completion: string, digits: number): number | undefined => {
  const head = completion.slice(0, digits + 1)
  return /^\d+$/.test(head) && head.length === digits + 1 ? Number(head.split("").reverse().join("")) : undefined
}

export const generate = Command.make(
  "generate",
  {
    checkpoint: checkpointFlag,
    prompt: Flag.String("prompt").pipe(Flag.withDescription("The prompt text"), Flag.optional),
    addition: Flag.String("addition").pipe(
      Flag.withDescription(
        'A sum such as "12+34" for a checkpoint of the addition task: prompt in the task\'s format, answer printed as 12+34=46',
      ),
      Flag.optional,
    ),
    digits: Flag.Int("digits").pipe(
      Flag.withDescription("Digits per operand the addition checkpoint was trained on (ds train --digits)"),
      Flag.withDefault(3),
    ),
    raw: Flag.Boolean("raw").pipe(
      Flag.withDescription("Feed the prompt as plain text instead of a chat turn"),
      Flag.withDefault(false),
    ),
    maxNewTokens: Flag.Int("max-new-tokens").pipe(Flag.withDescription("Tokens to generate at most"), Flag.optional),
    temperature: Flag.Finite("temperature").pipe(
      Flag.withDescription("0 = greedy; default 0.6, or 0 with --addition"),
      Flag.optional,
    ),
    topK: Flag.Int("top-k").pipe(Flag.withDescription("Keep the k most likely tokens"), Flag.optional),
    topP: Flag.Finite("top-p").pipe(
      Flag.withDescription("Keep the smallest set with this probability mass"),
      Flag.optional,
    ),
    seed: Flag.Int("seed").pipe(Flag.withDefault(0)),
    backend: backendFlag,
    attention: attentionFlag,
  },
  (options) =>
    Effect.gen(function* () {
      yield* useAttention(options.attention)
      const topK = Option.getOrUndefined(options.topK)
      const topP = Option.getOrUndefined(options.topP)
      const sampling = {
        checkpoint: options.checkpoint,
        seed: options.seed,
        attention: options.attention,
        ...(topK === undefined ? {} : { topK }),
        ...(topP === undefined ? {} : { topP }),
      }
      if (Option.isSome(options.addition)) {
        const { a, b, example } = yield* parseAddition(options.addition.value, options.digits)
        const result = yield* generateProgram({
          ...sampling,
          prompt: example.prompt,
          template: "raw",
          maxNewTokens: Option.getOrElse(options.maxNewTokens, () => options.digits + 2),
          temperature: Option.getOrElse(options.temperature, () => 0),
        })
        const sum = readAdditionAnswer(result.text, options.digits)
        yield* Console.log(`${a}+${b}=${sum ?? "?"}`)
        yield* Console.error(
          `[task format: "${example.prompt}" -> "${result.text}"; ${sum === a + b ? "correct" : `expected ${a + b}`}]`,
        )
        return
      }
      if (Option.isNone(options.prompt))
        return yield* new InputError({ source: "ds generate", reason: "give --prompt TEXT, or --addition A+B" })
      const result = yield* generateProgram({
        ...sampling,
        prompt: options.prompt.value,
        template: options.raw ? "raw" : "chat",
        maxNewTokens: Option.getOrElse(options.maxNewTokens, () => 200),
        temperature: Option.getOrElse(options.temperature, () => 0.6),
        onText: (delta) => process.stdout.write(delta),
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
      command: 'ds generate --checkpoint runs/add/checkpoint --addition "12+34"',
      description: "Ask a model trained by `ds train` (addition task) for 12+34; prints 12+34=46 when it is right",
    },
    {
      command: 'ds generate --checkpoint runs/add/checkpoint --raw --prompt "210+430=" --temperature 0',
      description: "The same sum in the task's own format (zero-padded, least-significant digit first): 6400 is 46",
    },
  ]),
)
