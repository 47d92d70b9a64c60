import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CheckpointError, initBackend, writeSafetensors } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { loadCheckpoint, saveCheckpoint } from "../src/checkpoint.ts"
import { toHuggingFaceName } from "../src/checkpoint-names.ts"
import { decodeModelConfig, toHuggingFaceConfig } from "../src/config.ts"
import { disposeParameters, initParameters, type Parameters } from "../src/params.ts"
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

const loadFails = async (dir: string): Promise<CheckpointError> => {
  const exit = await Effect.runPromiseExit(loadCheckpoint(dir))
  if (Exit.isSuccess(exit)) throw new Error("expected the load to fail")
  const error = exit.cause.reasons[0]
  const value = error !== undefined && "error" in error ? error.error : undefined
  if (!(value instanceof CheckpointError)) throw new Error(`expected a CheckpointError, got ${String(value)}`)
  return value
}

describe("checkpoints", () => {
  it("save -> load gives identical outputs, config and tokenizer", async () => {
    const dir = join(root, "plain")
    await Effect.runPromise(saveCheckpoint(dir, { ...model, tokenizer: byteTokenizer() }))
    const loaded = await Effect.runPromise(loadCheckpoint(dir))
    expect(loaded.config).toEqual(config)
    expect(logitsOf(loaded)).toEqual(logitsOf(model))
    expect(loaded.tokenizer?.encode("hi")).toEqual([104, 105])
    disposeParameters(loaded.params)
    expect(readdirSync(root).filter((f) => f.startsWith("."))).toEqual([])
  })

  it("a sharded save loads to the same model", async () => {
    const dir = join(root, "sharded")
    await Effect.runPromise(saveCheckpoint(dir, model, { maxShardBytes: 20_000 }))
    expect(readdirSync(dir).filter((f) => f.startsWith("model-")).length).toBeGreaterThan(1)
    const loaded = await Effect.runPromise(loadCheckpoint(dir))
    expect(logitsOf(loaded)).toEqual(logitsOf(model))
    disposeParameters(loaded.params)
  })

  it("a Hugging Face-named checkpoint (HF config and tensor names) loads to the same model", async () => {
    const dir = join(root, "hf")
    const { mkdirSync } = await import("node:fs")
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "config.json"), JSON.stringify(toHuggingFaceConfig(config)))
    await writeSafetensors(
      join(dir, "model.safetensors"),
      new Map([...model.params].map(([n, p]) => [toHuggingFaceName(n), p as tf.Tensor])),
    )
    expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).hidden_size).toBe(32)
    const loaded = await Effect.runPromise(loadCheckpoint(dir))
    expect(logitsOf(loaded)).toEqual(logitsOf(model))
    disposeParameters(loaded.params)
  })

  it("missing, unexpected and mis-shaped tensors are listed together in one CheckpointError", async () => {
    const dir = join(root, "broken")
    await Effect.runPromise(saveCheckpoint(dir, model))
    const tensors: Parameters | Map<string, tf.Tensor> = new Map<string, tf.Tensor>(
      [...model.params].filter(([n]) => n !== "norm.weight"),
    )
    tensors.set("layers.0.attn.extra.weight", tf.zeros([2]))
    tensors.set("embed.weight", tf.zeros([10, 32]))
    await writeSafetensors(join(dir, "model.safetensors"), tensors)
    const error = await loadFails(dir)
    expect(error.missing).toEqual(["norm.weight"])
    expect(error.unexpected).toEqual(["layers.0.attn.extra.weight"])
    expect(error.misshaped?.[0]).toContain("embed.weight")
    expect(error.message).toContain("norm.weight")
  })

  it("saving over an existing checkpoint replaces it whole", async () => {
    const dir = join(root, "replace")
    await Effect.runPromise(saveCheckpoint(dir, model, { extraFiles: new Map([["stale.txt", "x"]]) }))
    await Effect.runPromise(saveCheckpoint(dir, model))
    expect(readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors"])
  })

  it("block-scaled (FP8-style) weights are multiplied by their weight_scale_inv blocks on load", async () => {
    const dir = join(root, "scaled")
    await Effect.runPromise(saveCheckpoint(dir, model))
    const tensors = new Map<string, tf.Tensor>([...model.params].map(([n, p]) => [n, p as tf.Tensor]))
    const scale = tf.tensor2d([[2]])
    tensors.set("layers.0.ffn.w1.weight_scale_inv", scale)
    await writeSafetensors(join(dir, "model.safetensors"), tensors)
    const loaded = await Effect.runPromise(loadCheckpoint(dir))
    const original = model.params.get("layers.0.ffn.w1.weight")?.dataSync() as Float32Array
    const got = loaded.params.get("layers.0.ffn.w1.weight")?.dataSync() as Float32Array
    got.forEach((v, i) => {
      expect(v).toBeCloseTo(2 * (original[i] as number), 6)
    })
    disposeParameters(loaded.params)
    scale.dispose()
  })
})
