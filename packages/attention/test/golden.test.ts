/**
 * Parity with DeepSeek's reference inference code (tooling/fixtures/golden/base, docs/attention.md §3-§7): per layer, the golden
 * attention input RMSNorm(h_l)·attn_norm goes through `attentionLayer`; the indexer's attended sets must equal
 * `attend_mask` exactly and the output must match `attn_out` within atol = rtol = 1e-4, for the 32-token prefill
 * (MHA path) and the six one-token decodes (absorbed MQA path with the sparse gather), the KV cache carried over.
 */
import { existsSync, readFileSync } from "node:fs"
import { initBackend, readSafetensors, type TensorData, toTensor } from "@ds/core"
import { goldenFile } from "@ds/tooling/fixtures"
import * as tf from "@tensorflow/tfjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type AttentionConfig,
  attentionLayer,
  attentionWeightsFrom,
  createKvCache,
  indicesToMask,
  type LayerKvCache,
  rmsNorm,
  ropeFrequencies,
  ropeTable,
} from "../src/index.ts"
import { allCloseExcess, indexSets } from "./helpers.ts"

// The repository's golden fixture (tooling/fixtures/golden/base); a missing file fails with its name.

interface GoldenCall {
  readonly name: string
  readonly start_pos: number
}

let config: AttentionConfig & { readonly n_layers: number }
let calls: ReadonlyArray<GoldenCall>
let params: Map<string, TensorData>
let golden: Map<string, TensorData>
const held: Array<tf.Tensor> = []

const tensor = (map: Map<string, TensorData>, name: string): tf.Tensor => {
  const record = map.get(name)
  if (record === undefined) throw new Error(`golden file lacks ${name}`)
  const t = toTensor(record, { tensor: name })
  held.push(t)
  return t
}

beforeAll(async () => {
  await initBackend("wasm")
  config = JSON.parse(readFileSync(goldenFile("config.json"), "utf8"))
  calls = JSON.parse(readFileSync(goldenFile("inputs.json"), "utf8")).calls
  params = await readSafetensors(goldenFile("model.safetensors"))
  golden = await readSafetensors(goldenFile("golden.safetensors"))
})

afterAll(() => {
  for (const t of held) t.dispose()
})

describe("golden parity with the reference model.py (golden/base)", () => {
  it("finds the golden fixture inside the repository", () => {
    expect(existsSync(goldenFile("golden.safetensors"))).toBe(true)
  })

  it("RoPE cos/sin equal the reference freqs_cis for positions 0..37", () => {
    const positions = tf.tensor2d([Array.from({ length: 38 }, (_, p) => p)])
    const { cos, sin } = ropeTable(config, positions)
    expect(
      allCloseExcess(cos.dataSync(), tensor(golden, "rope.freqs_cis.real").dataSync(), 1e-6, 1e-6),
    ).toBeLessThanOrEqual(0)
    expect(
      allCloseExcess(sin.dataSync(), tensor(golden, "rope.freqs_cis.imag").dataSync(), 1e-6, 1e-6),
    ).toBeLessThanOrEqual(0)
    expect(ropeFrequencies(config).length).toBe(config.qk_rope_head_dim / 2)
    tf.dispose([positions, cos, sin])
  })

  it("every layer: index scores and attn_out match within 1e-4 and attended sets equal attend_mask, prefill and six decodes", () => {
    const weights = Array.from({ length: config.n_layers }, (_, l) =>
      attentionWeightsFrom((n) => tensor(params, n), `layers.${l}.attn.`, config),
    )
    const caches: Array<LayerKvCache> = Array.from({ length: config.n_layers }, () => createKvCache(config, 2))
    const checked: Array<string> = []
    for (const call of calls) {
      for (let l = 0; l < config.n_layers; l++) {
        tf.tidy(() => {
          const h = tensor(
            golden,
            l === 0 ? `${call.name}.embed` : `${call.name}.layers.${l - 1}.hidden_out`,
          ) as tf.Tensor3D
          const x = rmsNorm(h, tensor(params, `layers.${l}.attn_norm.weight`)) as tf.Tensor3D
          const result = attentionLayer(weights[l]!, config, x, {
            startPos: call.start_pos,
            cache: caches[l]!,
            returnScores: true,
          })
          const expectedScores = tensor(golden, `${call.name}.layers.${l}.indexer.score`)
          const causal = tf.isFinite(expectedScores)
          const [ours, theirs] = [result.scores!, expectedScores].map((t) => tf.where(causal, t, tf.zerosLike(t)))
          expect(
            allCloseExcess(ours!.dataSync(), theirs!.dataSync(), 1e-4, 1e-4),
            `${call.name} layer ${l} index scores`,
          ).toBeLessThanOrEqual(0)
          const expectedMask = tensor(golden, `${call.name}.layers.${l}.indexer.attend_mask`)
          expect(result.keyCount).toBe(expectedMask.shape[2])
          const mask = indicesToMask(result.indices, result.keyCount).cast("float32")
          expect(Array.from(mask.dataSync()), `${call.name} layer ${l} attended sets`).toEqual(
            Array.from(expectedMask.dataSync()),
          )
          const expectedOut = tensor(golden, `${call.name}.layers.${l}.attn_out`)
          const excess = allCloseExcess(result.output.dataSync(), expectedOut.dataSync(), 1e-4, 1e-4)
          expect(excess, `${call.name} layer ${l} attn_out`).toBeLessThanOrEqual(0)
          checked.push(`${call.name}.${l}`)
        })
      }
    }
    expect(checked).toHaveLength(7 * config.n_layers)
    for (const cache of caches) tf.dispose([cache.kv, cache.indexKeys])
  })

  it("the selected sets are the reference's raw top-k restricted to causal positions", () => {
    const weights = attentionWeightsFrom((n) => tensor(params, n), "layers.0.attn.", config)
    tf.tidy(() => {
      const x = rmsNorm(tensor(golden, "prefill.embed"), tensor(params, "layers.0.attn_norm.weight")) as tf.Tensor3D
      const result = attentionLayer(weights, config, x, { mode: "mqa" })
      const raw = tensor(golden, "prefill.layers.0.indexer.topk_indices")
      const rawValues = raw.dataSync()
      const k = raw.shape[2] as number
      const causalRaw = tf.tensor3d(
        Int32Array.from(rawValues, (v, i) => (v <= Math.floor(i / k) % 32 ? v : -1)),
        raw.shape as [number, number, number],
        "int32",
      )
      expect(indexSets(result.indices)).toEqual(indexSets(causalRaw))
    })
  })
})
