/**
 * `ds forward`: runs the calls of an inputs file (prefill then decode steps, each with its start_pos; the format of
 * golden/base/inputs.json) through a checkpoint and writes the per-call logits, indexer attend masks and gate weights.
 */
import { forwardProgram } from "@ds/model"
import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { attentionFlag, backendFlag, useAttention } from "./options.ts"
import { computeLayer, progressCallback } from "./run-compute.ts"

export const forward = Command.make(
  "forward",
  {
    checkpoint: Flag.Directory("checkpoint", { mustExist: true }).pipe(
      Flag.withDescription("Checkpoint folder: config.json + model.safetensors (or sharded, with its index)"),
    ),
    inputs: Flag.File("inputs", { mustExist: true }).pipe(
      Flag.withDescription("JSON file {calls: [{name, start_pos, tokens: B x S}]}, as golden/base/inputs.json"),
    ),
    out: Flag.File("out").pipe(Flag.withDescription("Safetensors file to write the outputs to")),
    backend: backendFlag,
    attention: attentionFlag,
  },
  (options) =>
    Effect.gen(function* () {
      yield* useAttention(options.attention)
      const bar = yield* progressCallback
      const names = yield* forwardProgram({
        checkpoint: options.checkpoint,
        inputs: options.inputs,
        out: options.out,
        attention: options.attention,
        onCall: ({ name, index, total }) =>
          bar.update({ task: "forward", done: index + 1, total, unit: "call", info: { call: name } }),
      })
      bar.finish("forward")
      yield* Console.log(`wrote ${names.length} tensors to ${options.out}`)
    }).pipe(Effect.provide(computeLayer(options.backend))),
).pipe(
  Command.withDescription(
    "Run prefill/decode calls through a checkpoint and write {call}.logits, {call}.layers.{l}.indexer.attend_mask and {call}.layers.{l}.gate.dense_weights",
  ),
  Command.withExamples([
    {
      command:
        "ds forward --checkpoint tooling/fixtures/golden/base --inputs tooling/fixtures/golden/base/inputs.json --out /tmp/out.safetensors",
      description: "Reproduce DeepSeek's reference outputs for the tiny golden model",
    },
    {
      command:
        "ds forward --attention reference --checkpoint tooling/fixtures/golden/base --inputs tooling/fixtures/golden/base/inputs.json --out /tmp/out-reference.safetensors",
      description: "The same on the plain-tfjs reference attention (the default, auto, runs the fused native kernels)",
    },
  ]),
)
