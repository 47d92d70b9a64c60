/**
 * `ds train`: supervised training (SFT) of a DeepSeek-V3.2 model on the built-in addition task (@ds/grpo's task,
 * passed to @ds/model's `trainProgram` as data), the built-in long-context needle task (@ds/model `needleTask`), or
 * a text/chat JSONL file, with AdamW, warm-up + cosine schedule, clipping, checkpoints and resume, metrics.jsonl and
 * SVG curves. `--stage` picks the DSA training stage (docs/attention.md §12): sft (default), dense, indexer-warmup
 * (stage A) or sparse (stage B). Training steps always run the reference attention (the gradients are the plain
 * tfjs ones); `--attention` chooses the path of the evaluations' generation only.
 */
import { Progress } from "@ds/core"
import { additionSupervisedTask } from "@ds/grpo"
import { needleTask, type TrainEvent, trainingStages, trainProgram } from "@ds/model"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { attentionFlag, backendFlag, seedFlag, useAttention } from "./options.ts"
import { computeLayer } from "./run-compute.ts"

const optional = <A>(option: Option.Option<A>): A | undefined => Option.getOrUndefined(option)

export const train = Command.make(
  "train",
  {
    out: Flag.Directory("out").pipe(
      Flag.withDescription("Run folder (checkpoint, metrics.jsonl, plots)"),
      Flag.withDefault("runs/sft"),
    ),
    data: Flag.String("data").pipe(
      Flag.withDescription(
        '"addition" or "needle" (built-in tasks) or a JSONL file of {"text"}, {"prompt","completion"} or {"messages"} records',
      ),
      Flag.withDefault("addition"),
    ),
    digits: Flag.Int("digits").pipe(
      Flag.withDescription("Digits per operand of the addition task"),
      Flag.withDefault(3),
    ),
    context: Flag.Int("context").pipe(
      Flag.withDescription("Prompt length in tokens of the needle task (its needle lies in the first half)"),
      Flag.withDefault(256),
    ),
    minContext: Flag.Int("min-context").pipe(
      Flag.withDescription("Shortest needle-task prompt of a training step (drawn per step up to --context)"),
      Flag.optional,
    ),
    preset: Flag.Literals("preset", ["tiny", "small", "long"]).pipe(
      Flag.withDescription('Size of a fresh model. Default "long" for the needle task (1,024 tokens), else "tiny"'),
      Flag.optional,
    ),
    stage: Flag.Literals("stage", trainingStages).pipe(
      Flag.withDescription(
        "sft (top-k by the frozen indexer), dense (dense attention), indexer-warmup (dense, only the indexer on the KL to the main attention) or sparse (top-k, all parameters, LM loss + the detached indexer KL)",
      ),
      Flag.withDefault("sft" as const),
    ),
    init: Flag.Directory("init", { mustExist: true }).pipe(
      Flag.withDescription("Start from this checkpoint instead of a fresh model"),
      Flag.optional,
    ),
    steps: Flag.Int("steps").pipe(Flag.withDescription("Optimizer steps"), Flag.withDefault(800)),
    batchSize: Flag.Int("batch-size").pipe(Flag.withDescription("Sequences per step"), Flag.optional),
    learningRate: Flag.Finite("lr").pipe(Flag.withDescription("Peak learning rate"), Flag.optional),
    seed: seedFlag,
    resume: Flag.Boolean("resume").pipe(
      Flag.withDescription("Continue from the run folder's last checkpoint"),
      Flag.withDefault(false),
    ),
    backend: backendFlag,
    attention: attentionFlag,
  },
  (options) =>
    Effect.gen(function* () {
      // The path of the evaluations' generation; the training steps (no KV cache, gradients) run the reference.
      yield* useAttention(options.attention)
      const progress = yield* Progress
      const onEvent = (event: TrainEvent) =>
        event.type === "step"
          ? progress.update({
              task: "train",
              done: event.step,
              total: event.totalSteps,
              unit: "step",
              info: {
                loss: event.loss,
                ...(event.recall === undefined ? {} : { recall: Number(event.recall.toFixed(3)) }),
                "tok/s": Math.round(event.tokensPerSecond),
              },
            })
          : event.type === "done"
            ? progress.finish("train")
            : Effect.void
      const addition = options.data === "addition"
      const needle = options.data === "needle"
      const minContext = optional(options.minContext)
      const batchSize = optional(options.batchSize)
      // The addition task's tested learning rate (packages/grpo/test/addition.test.ts); JSONL data: trainProgram's.
      const learningRate = optional(options.learningRate) ?? (addition ? 1e-2 : undefined)
      const init = optional(options.init)
      const summary = yield* trainProgram({
        out: options.out,
        data: addition
          ? additionSupervisedTask(options.digits)
          : needle
            ? needleTask({
                contextLength: options.context,
                ...(minContext === undefined ? {} : { minContextLength: minContext }),
              })
            : options.data,
        preset: optional(options.preset) ?? (needle ? "long" : "tiny"),
        stage: options.stage,
        steps: options.steps,
        seed: options.seed,
        resume: options.resume,
        onEvent,
        ...(batchSize === undefined ? {} : { batchSize }),
        ...(learningRate === undefined ? {} : { learningRate }),
        ...(init === undefined ? {} : { init }),
      })
      const evaluation =
        summary.evaluation === undefined ? "" : `, ${summary.evaluation.metric} ${summary.evaluation.value.toFixed(3)}`
      yield* Console.log(`trained ${summary.steps} steps: loss ${summary.finalLoss.toFixed(4)}${evaluation}`)
      yield* Console.log(`checkpoint: ${summary.checkpoint}`)
    }).pipe(Effect.provide(computeLayer(options.backend))),
).pipe(
  Command.withDescription("Train a DeepSeek-V3.2 model (SFT) on the built-in addition task or a text/chat JSONL file"),
  Command.withExamples([
    {
      command: "ds train --out runs/add --steps 800",
      description: "A tiny model learns 3-digit addition (a few minutes)",
    },
    { command: "ds train --out runs/add --steps 900 --resume", description: "Continue a killed or finished run" },
    { command: "ds train --data chats.jsonl --preset small --out runs/chat", description: "SFT on your own chat data" },
    {
      command: "ds train --data needle --stage dense --out runs/needle-dense --steps 400",
      description: "Dense attention learns to fetch a letter 128+ tokens back (256-token prompts)",
    },
    {
      command:
        "ds train --data needle --stage indexer-warmup --init runs/needle-dense/checkpoint --out runs/needle-warmup --steps 100",
      description: "DSA stage A: only the lightning indexer trains, on the KL to the dense attention",
    },
    {
      command:
        "ds train --data needle --stage sparse --init runs/needle-warmup/checkpoint --out runs/needle-sparse --steps 100",
      description: "DSA stage B: top-k attention, all parameters, LM loss + the detached indexer KL",
    },
  ]),
)
