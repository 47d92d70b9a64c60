/**
 * Parity with DeepSeek's reference model on the golden data (tooling/fixtures/golden/README.md): prefill and all six decode calls
 * give logits within atol = rtol = 1e-4 and exactly the reference's indexer attended sets and expert sets; a single
 * 38-token prefill equals prefill + decode. Runs the same code path as `ds forward` (runForwardCalls).
 */
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { initBackend, readSafetensors, type TensorData } from "@ds/core"
import { expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { afterAll, beforeAll, describe } from "vitest"
import { loadCheckpoint } from "../src/checkpoint.ts"
import { disposeParameters } from "../src/params.ts"
import { type ForwardCall, forwardProgram, runForwardCalls } from "../src/programs/forward-program.ts"
import { disposeForward, forward, type Model } from "../src/transformer.ts"
import { allcloseExcess, floats, goldenDir, goldenFile, readGolden } from "./golden-fixture.ts"

interface Inputs {
  readonly calls: ReadonlyArray<ForwardCall>
  readonly all_tokens: ReadonlyArray<ReadonlyArray<number>>
}

/** Row sets of a 0/1 mask laid out [rows, width]. */
const maskRows = (mask: ArrayLike<number>, width: number): Array<string> => {
  const out: Array<string> = []
  for (let r = 0; r * width < mask.length; r++) {
    const set: Array<number> = []
    for (let s = 0; s < width; s++) if ((mask[r * width + s] as number) > 0.5) set.push(s)
    out.push(set.join(","))
  }
  return out
}

describe("golden parity with the reference model (golden/base)", () => {
  let model: Model
  let golden: Map<string, TensorData>
  let inputs: Inputs
  let outputs: Map<string, tf.Tensor>

  beforeAll(async () => {
    await initBackend("wasm")
    const checkpoint = await Effect.runPromise(loadCheckpoint(goldenDir))
    model = { config: checkpoint.config, params: checkpoint.params }
    golden = await readGolden()
    inputs = JSON.parse(readFileSync(goldenFile("inputs.json"), "utf8")) as Inputs
    outputs = runForwardCalls(model, inputs.calls)
  })

  afterAll(() => {
    tf.dispose([...(outputs?.values() ?? [])])
    if (model !== undefined) disposeParameters(model.params)
  })

  it("logits of prefill and every decode call are within atol = rtol = 1e-4", () => {
    for (const call of inputs.calls) {
      const got = outputs.get(`${call.name}.logits`)?.dataSync() as Float32Array
      expect(allcloseExcess(got, floats(golden.get(`${call.name}.logits`))), call.name).toBeLessThanOrEqual(0)
    }
  })

  it("every layer's indexer attends to exactly the reference's key sets", () => {
    for (const call of inputs.calls) {
      for (let l = 0; l < model.config.n_layers; l++) {
        const name = `${call.name}.layers.${l}.indexer.attend_mask`
        const expected = golden.get(name)
        const width = expected?.shape[2] as number
        const got = outputs.get(name)
        expect(got?.shape, name).toEqual(expected?.shape)
        expect(maskRows(got?.dataSync() ?? [], width), name).toEqual(maskRows(floats(expected), width))
      }
    }
  })

  it("every MoE layer chooses exactly the reference's experts, with its routing weights", () => {
    for (const call of inputs.calls) {
      for (let l = model.config.n_dense_layers; l < model.config.n_layers; l++) {
        const name = `${call.name}.layers.${l}.gate.dense_weights`
        const expected = floats(golden.get(name))
        const got = outputs.get(name)?.dataSync() as Float32Array
        const e = model.config.n_routed_experts
        expect(maskRows(got, e), name).toEqual(maskRows(expected, e))
        expect(allcloseExcess(got, expected), name).toBeLessThanOrEqual(0)
      }
    }
  })

  it("one 38-token prefill equals prefill(32) + 6 decodes: logits and selections", () => {
    const all = inputs.all_tokens
    const length = all[0]?.length as number
    const tokens = tf.tensor2d(all.flat(), [all.length, length], "int32")
    const result = forward(model, tokens, { logits: "all", capture: true })
    tokens.dispose()
    const logits = result.logits.arraySync() as Array<Array<Array<number>>>
    const prefillLength = inputs.calls[0]?.tokens[0]?.length as number
    inputs.calls.forEach((call, i) => {
      const position = i === 0 ? prefillLength - 1 : prefillLength + i - 1
      const single = logits.flatMap((row) => row[position] as Array<number>)
      const stepwise = outputs.get(`${call.name}.logits`)?.dataSync() as Float32Array
      expect(allcloseExcess(single, stepwise), call.name).toBeLessThanOrEqual(0)
    })
    result.layers?.forEach((layer, l) => {
      const mask = layer.indices.bufferSync()
      const lastStep = golden.get(`decode5.layers.${l}.indexer.attend_mask`)
      const width = lastStep?.shape[2] as number
      const ownRows: Array<string> = []
      for (let b = 0; b < all.length; b++) {
        const set: Array<number> = []
        for (let j = 0; j < layer.indices.shape[2]; j++) {
          const s = mask.get(b, length - 1, j)
          if (s >= 0) set.push(s)
        }
        ownRows.push(set.sort((x, y) => x - y).join(","))
      }
      expect(ownRows, `layer ${l}`).toEqual(maskRows(floats(lastStep), width))
    })
    disposeForward(result)
  })

  it.effect("forwardProgram (ds forward) writes the golden tensors' names and shapes for every call", () =>
    Effect.gen(function* () {
      const out = join(mkdtempSync(join(tmpdir(), "ds-forward-")), "out.safetensors")
      const before = tf.memory().numTensors
      const names = yield* forwardProgram({ checkpoint: goldenDir, inputs: goldenFile("inputs.json"), out })
      expect(tf.memory().numTensors).toBe(before) // the model and the outputs were freed
      const written = yield* Effect.promise(() => readSafetensors(out))
      expect(names.length).toBe(written.size)
      for (const [name, tensor] of written) {
        expect(golden.get(name)?.shape, name).toEqual(tensor.shape)
        if (name.endsWith(".logits"))
          expect(allcloseExcess(floats(tensor), floats(golden.get(name))), name).toBeLessThanOrEqual(0)
      }
      expect(written.has("decode5.layers.2.gate.dense_weights")).toBe(true)
    }),
  )
})
