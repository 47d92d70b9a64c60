import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CheckpointError, initBackend, writeSafetensors } from "@ds/core"
import { expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { afterAll, beforeAll, describe } from "vitest"
import { acquireCheckpoint, loadCheckpoint, saveCheckpoint } from "../src/checkpoint.ts"
import { toHuggingFaceName } from "../src/checkpoint-names.ts"
import { decodeModelConfig, toHuggingFaceConfig } from "../src/config.ts"
import { LocalModel } from "../src/language-model.ts"
import { disposeParameters, initParameters, type Parameters } from "../src/params.ts"
import { forwardProgram } from "../src/programs/forward-program.ts"
import { generateProgram } from "../src/programs/generate-program.ts"
import { byteTokenizer } from "../src/tokenizer/tokenizer.ts"
import { disposeForward, forward, type Model } from "../src/transformer.ts"

const config = decodeModelConfig({
  vocab_size: 263,
  dim: 32,
  inter_dim: 48,
  moe_inter_dim: 16,
  n_layers: 2,
  n_dense_layers: 1,
  n_heads: 2,
  n_routed_experts: 4,
  n_shared_experts: 1,
  n_activated_experts: 2,
  n_expert_groups: 2,
  n_limited_groups: 1,
  score_func: "sigmoid",
  route_scale: 2.5,
  q_lora_rank: 16,
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 4,
  v_head_dim: 8,
  index_n_heads: 2,
  index_head_dim: 8,
  index_topk: 4,
  max_seq_len: 32,
})

const root = mkdtempSync(join(tmpdir(), "ds-model-ckpt-"))
let model: Model

beforeAll(async () => {
  await initBackend("wasm")
  model = { config, params: initParameters(config, 7) }
  // Non-zero biases so that a lost gate bias would change the routing.
  for (const [name, p] of model.params) if (name.endsWith("gate.bias")) p.assign(tf.tensor1d([0.3, -0.2, 0.1, -0.4]))
})

afterAll(() => {
  disposeParameters(model.params)
  rmSync(root, { recursive: true, force: true })
})

const tokens = () =>
  tf.tensor2d(
    [
      [5, 17, 99, 3, 200, 42, 7, 8, 9, 10],
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 11],
    ],
    [2, 10],
    "int32",
  )

const logitsOf = (m: Model): Float32Array => {
  const input = tokens()
  const result = forward(m, input, { logits: "all" })
  const values = result.logits.dataSync() as Float32Array
  disposeForward(result)
  input.dispose()
  return values
}

const loadFails = (dir: string): Effect.Effect<CheckpointError, unknown> =>
  Effect.flatMap(Effect.flip(loadCheckpoint(dir)), (error) =>
    error instanceof CheckpointError ? Effect.succeed(error) : Effect.fail(`expected a CheckpointError, got ${error}`),
  )

describe("checkpoints", () => {
  it.effect("save -> load gives identical outputs, config and tokenizer", () =>
    Effect.gen(function* () {
      const dir = join(root, "plain")
      yield* saveCheckpoint(dir, { ...model, tokenizer: byteTokenizer() })
      const loaded = yield* loadCheckpoint(dir)
      expect(loaded.config).toEqual(config)
      expect(logitsOf(loaded)).toEqual(logitsOf(model))
      expect(loaded.tokenizer?.encode("hi")).toEqual([104, 105])
      disposeParameters(loaded.params)
      expect(readdirSync(root).filter((f) => f.startsWith("."))).toEqual([])
    }),
  )

  it.effect("a sharded save loads to the same model", () =>
    Effect.gen(function* () {
      const dir = join(root, "sharded")
      yield* saveCheckpoint(dir, model, { maxShardBytes: 20_000 })
      expect(readdirSync(dir).filter((f) => f.startsWith("model-")).length).toBeGreaterThan(1)
      const loaded = yield* loadCheckpoint(dir)
      expect(logitsOf(loaded)).toEqual(logitsOf(model))
      disposeParameters(loaded.params)
    }),
  )

  it.effect("a Hugging Face-named checkpoint (HF config and tensor names) loads to the same model", () =>
    Effect.gen(function* () {
      const dir = join(root, "hf")
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, "config.json"), JSON.stringify(toHuggingFaceConfig(config)))
      yield* Effect.promise(() =>
        writeSafetensors(
          join(dir, "model.safetensors"),
          new Map([...model.params].map(([n, p]) => [toHuggingFaceName(n), p as tf.Tensor])),
        ),
      )
      expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).hidden_size).toBe(32)
      const loaded = yield* loadCheckpoint(dir)
      expect(logitsOf(loaded)).toEqual(logitsOf(model))
      disposeParameters(loaded.params)
    }),
  )

  it.effect("missing, unexpected and mis-shaped tensors are listed together in one CheckpointError", () =>
    Effect.gen(function* () {
      const dir = join(root, "broken")
      yield* saveCheckpoint(dir, model)
      const tensors: Parameters | Map<string, tf.Tensor> = new Map<string, tf.Tensor>(
        [...model.params].filter(([n]) => n !== "norm.weight"),
      )
      tensors.set("layers.0.attn.extra.weight", tf.zeros([2]))
      tensors.set("embed.weight", tf.zeros([10, 32]))
      yield* Effect.promise(() => writeSafetensors(join(dir, "model.safetensors"), tensors))
      const error = yield* loadFails(dir)
      expect(error.missing).toEqual(["norm.weight"])
      expect(error.unexpected).toEqual(["layers.0.attn.extra.weight"])
      expect(error.misshaped?.[0]).toContain("embed.weight")
      expect(error.message).toContain("norm.weight")
    }),
  )

  it.effect("saving over an existing checkpoint replaces it whole", () =>
    Effect.gen(function* () {
      const dir = join(root, "replace")
      yield* saveCheckpoint(dir, model, { extraFiles: new Map([["stale.txt", "x"]]) })
      yield* saveCheckpoint(dir, model)
      expect(readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors"])
    }),
  )

  it.effect("block-scaled (FP8-style) weights are multiplied by their weight_scale_inv blocks on load", () =>
    Effect.gen(function* () {
      const dir = join(root, "scaled")
      yield* saveCheckpoint(dir, model)
      const tensors = new Map<string, tf.Tensor>([...model.params].map(([n, p]) => [n, p as tf.Tensor]))
      const scale = tf.tensor2d([[2]])
      tensors.set("layers.0.ffn.w1.weight_scale_inv", scale)
      yield* Effect.promise(() => writeSafetensors(join(dir, "model.safetensors"), tensors))
      const loaded = yield* loadCheckpoint(dir)
      const original = model.params.get("layers.0.ffn.w1.weight")?.dataSync() as Float32Array
      const got = loaded.params.get("layers.0.ffn.w1.weight")?.dataSync() as Float32Array
      got.forEach((v, i) => {
        expect(v).toBeCloseTo(2 * (original[i] as number), 6)
      })
      disposeParameters(loaded.params)
      scale.dispose()
    }),
  )
})

describe("tensor memory of a run is scoped (freed on failure and interruption too)", () => {
  const live = () => tf.memory().numTensors
  const saved = (name: string) =>
    Effect.gen(function* () {
      const dir = join(root, name)
      yield* saveCheckpoint(dir, { ...model, tokenizer: byteTokenizer() })
      return dir
    })

  it.effect("a load that fails after reading the parameters (a broken tokenizer.json) frees them", () =>
    Effect.gen(function* () {
      const dir = yield* saved("bad-tokenizer")
      writeFileSync(join(dir, "tokenizer.json"), "{ not json")
      const before = live()
      const error = yield* Effect.flip(loadCheckpoint(dir))
      expect(error._tag).toBe("InputError")
      expect(live()).toBe(before)
    }),
  )

  it.effect("a program that fails while holding acquireCheckpoint's model frees it", () =>
    Effect.gen(function* () {
      const dir = yield* saved("scoped-fail")
      const before = live()
      const exit = yield* Effect.exit(
        Effect.scoped(
          Effect.gen(function* () {
            const checkpoint = yield* acquireCheckpoint(dir)
            expect(live()).toBeGreaterThan(before)
            logitsOf(checkpoint)
            return yield* Effect.fail("the program failed")
          }),
        ),
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(live()).toBe(before)
    }),
  )

  it.effect("an interrupted program holding the model frees it", () =>
    Effect.gen(function* () {
      const dir = yield* saved("scoped-interrupt")
      const before = live()
      const loaded = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(
        Effect.scoped(
          acquireCheckpoint(dir).pipe(
            Effect.andThen(Deferred.succeed(loaded, undefined)),
            Effect.andThen(Effect.never),
          ),
        ),
      )
      yield* Deferred.await(loaded)
      expect(live()).toBeGreaterThan(before)
      yield* Fiber.interrupt(fiber)
      expect(live()).toBe(before)
    }),
  )

  it.effect("the LocalModel layer frees the model when its scope closes, also after a failure", () =>
    Effect.gen(function* () {
      const dir = yield* saved("layer")
      const before = live()
      const exit = yield* Effect.exit(
        Effect.gen(function* () {
          const local = yield* LocalModel
          expect(local.model.params.size).toBeGreaterThan(0)
          return yield* Effect.fail("the request failed")
        }).pipe(Effect.provide(LocalModel.layer(dir))),
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(live()).toBe(before)
    }),
  )

  it.effect("ds forward failing on its second call frees the model and the first call's outputs", () =>
    Effect.gen(function* () {
      const dir = yield* saved("forward-fail")
      const inputs = join(root, "forward-fail-inputs.json")
      writeFileSync(
        inputs,
        JSON.stringify({
          calls: [
            { name: "prefill", start_pos: 0, tokens: [[1, 2, 3]] },
            { name: "decode", start_pos: 3, tokens: [[4], [5]] }, // two rows for a batch of one: InputError
          ],
        }),
      )
      const before = live()
      const error = yield* Effect.flip(
        forwardProgram({ checkpoint: dir, inputs, out: join(root, "never.safetensors") }),
      )
      expect(error._tag).toBe("InputError")
      expect(live()).toBe(before)
    }),
  )

  it.effect("ds generate on a checkpoint without a tokenizer fails typed and frees the model", () =>
    Effect.gen(function* () {
      const dir = join(root, "no-tokenizer")
      yield* saveCheckpoint(dir, model)
      const before = live()
      const error = yield* Effect.flip(generateProgram({ checkpoint: dir, prompt: "hi" }))
      expect(error).toMatchObject({ _tag: "InputError", source: dir })
      expect(live()).toBe(before)
    }),
  )
})
