/**
 * The whole attention layer (docs/attention.md §4-§6, §8): the two MLA modes agree, top-k with k ≥ length is
 * dense attention, and the KV cache reproduces one long prefill from chunks, multi-token decodes and uneven batches.
 */
import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type AttentionConfig,
  type AttentionLayerOptions,
  type AttentionWeights,
  attentionLayer,
  attentionWeightsFrom,
  createKvCache,
  disposeAttentionWeights,
  disposeKvCache,
  type LayerKvCache,
  randomAttentionWeights,
} from "../src/index.ts"
import { expectClose, indexSets, smallConfig } from "./helpers.ts"

let weights: AttentionWeights
const length = 12

beforeAll(async () => {
  await initBackend("wasm")
  weights = randomAttentionWeights(smallConfig, 11)
})

afterAll(() => disposeAttentionWeights(weights))

const inputs = (batch: number, tokens: number, seed: number) =>
  tf.randomNormal([batch, tokens, smallConfig.dim], 0, 1, "float32", seed) as tf.Tensor3D

/** Runs the layer and returns [output, indices] kept past the caller's tidy. */
const run = (x: tf.Tensor3D, options: AttentionLayerOptions = {}, config: AttentionConfig = smallConfig) => {
  const result = attentionLayer(weights, config, x, options)
  return { output: result.output, indices: result.indices, keyCount: result.keyCount }
}

/** Rows [from, from + n) of the token axis. */
const tokens = (t: tf.Tensor3D, from: number, n: number) => tf.slice(t, [0, from, 0], [-1, n, -1]) as tf.Tensor3D

describe("attentionLayer: modes and selection", () => {
  it("MHA-mode prefill equals absorbed MQA mode on the same weights (same selections, same output)", () => {
    tf.tidy(() => {
      const x = inputs(2, length, 1)
      const mha = run(x, { mode: "mha" })
      const mqa = run(x, { mode: "mqa" })
      expect(indexSets(mqa.indices)).toEqual(indexSets(mha.indices))
      expectClose(mqa.output, mha.output, 1e-5, 1e-4)
    })
  })

  it("top-k with k >= length equals dense causal attention, prefill and decode", () => {
    tf.tidy(() => {
      const wide = { ...smallConfig, index_topk: 64 }
      const x = inputs(2, length, 2)
      for (const mode of ["mha", "mqa"] as const) {
        expectClose(run(x, { mode }, wide).output, run(x, { mode, selection: "dense" }, wide).output, 1e-6, 1e-5)
      }
      const sparseCache = createKvCache(wide, 2)
      const denseCache = createKvCache(wide, 2)
      run(tokens(x, 0, length - 1), { cache: sparseCache }, wide)
      run(tokens(x, 0, length - 1), { cache: denseCache, selection: "dense" }, wide)
      const sparse = run(tokens(x, length - 1, 1), { cache: sparseCache, startPos: length - 1 }, wide)
      const dense = run(tokens(x, length - 1, 1), { cache: denseCache, startPos: length - 1, selection: "dense" }, wide)
      expectClose(sparse.output, dense.output, 1e-6, 1e-5)
      disposeKvCache(sparseCache)
      disposeKvCache(denseCache)
    })
  })

  it("with k < length the selection matters: the output differs from dense attention", () => {
    tf.tidy(() => {
      const x = inputs(1, length, 3)
      const diff = tf.max(tf.abs(tf.sub(run(x).output, run(x, { selection: "dense" }).output))).dataSync()[0] as number
      expect(diff).toBeGreaterThan(1e-3)
    })
  })

  it("query t attends to min(k, t + 1) positions, all at or before t", () => {
    tf.tidy(() => {
      const { indices } = run(inputs(1, length, 4))
      indexSets(indices).forEach((row, t) => {
        const set = row.split(",").map(Number)
        expect(set).toHaveLength(Math.min(smallConfig.index_topk, t + 1))
        expect(set.every((s) => s <= t)).toBe(true)
      })
    })
  })
})

describe("attention weights by reference name", () => {
  it("collects a block's weights from reference names and names a mis-shaped one in the ShapeError", () => {
    const byName = new Map<string, tf.Tensor>([
      ["layers.2.attn.wq_a.weight", weights.wq_a],
      ["layers.2.attn.q_norm.weight", weights.q_norm],
      ["layers.2.attn.wq_b.weight", weights.wq_b],
      ["layers.2.attn.wkv_a.weight", weights.wkv_a],
      ["layers.2.attn.kv_norm.weight", weights.kv_norm],
      ["layers.2.attn.wkv_b.weight", weights.wkv_b],
      ["layers.2.attn.wo.weight", weights.wo],
      ["layers.2.attn.indexer.wq_b.weight", weights.indexer.wq_b],
      ["layers.2.attn.indexer.wk.weight", weights.indexer.wk],
      ["layers.2.attn.indexer.k_norm.weight", weights.indexer.k_norm_weight],
      ["layers.2.attn.indexer.k_norm.bias", weights.indexer.k_norm_bias],
      ["layers.2.attn.indexer.weights_proj.weight", weights.indexer.weights_proj],
    ])
    const get = (name: string) => byName.get(name) as tf.Tensor
    expect(attentionWeightsFrom(get, "layers.2.attn.", smallConfig).indexer.wk).toBe(weights.indexer.wk)
    byName.set("layers.2.attn.wkv_b.weight", weights.wq_b)
    expect(() => attentionWeightsFrom(get, "layers.2.attn.", smallConfig)).toThrow(/layers\.2\.attn\.wkv_b\.weight/)
  })
})

describe("attentionLayer with a KV cache", () => {
  const longPrefill = (x: tf.Tensor3D) => run(x)

  it("chunked prefill (5 + 3 + 4 tokens at start positions 0, 5, 8) equals one long prefill", () => {
    tf.tidy(() => {
      const x = inputs(2, length, 5)
      const reference = longPrefill(x)
      const cache = createKvCache(smallConfig, 2)
      const chunks = [
        [0, 5],
        [5, 3],
        [8, 4],
      ].map(([start, n]) => run(tokens(x, start!, n!), { cache, startPos: start! }))
      expectClose(
        tf.concat(
          chunks.map((c) => c.output),
          1,
        ),
        reference.output,
        1e-5,
        1e-4,
      )
      expect(chunks.flatMap((c) => indexSets(c.indices))).toEqual(
        regroup(indexSets(reference.indices), 2, length, [5, 3, 4]),
      )
      expect(cache.lengths).toEqual([length, length])
      disposeKvCache(cache)
    })
  })

  it("multi-token decode (prefill 6, then 3, 2 and 1 tokens per call, MHA and MQA) equals one long prefill", () => {
    for (const mode of ["mha", "mqa"] as const) {
      tf.tidy(() => {
        const x = inputs(2, length, 6)
        const reference = longPrefill(x)
        const cache = createKvCache(smallConfig, 2)
        const steps = [
          [0, 6],
          [6, 3],
          [9, 2],
          [11, 1],
        ].map(([start, n]) =>
          run(tokens(x, start!, n!), { cache, startPos: start!, mode: start === 0 ? "auto" : mode }),
        )
        expectClose(
          tf.concat(
            steps.map((s) => s.output),
            1,
          ),
          reference.output,
          1e-5,
          1e-4,
        )
        expect(steps.flatMap((s) => indexSets(s.indices))).toEqual(
          regroup(indexSets(reference.indices), 2, length, [6, 3, 2, 1]),
        )
        disposeKvCache(cache)
      })
    }
  })

  it("a batch of sequences with different lengths (right padding) equals each sequence run alone, prefill and decode", () => {
    tf.tidy(() => {
      const a = inputs(1, 7, 7)
      const b = inputs(1, 4, 8)
      const padding = inputs(1, 3, 9)
      const batched = createKvCache(smallConfig, 2)
      const prefill = run(tf.concat([a, tf.concat([b, padding], 1)], 0), { cache: batched, validLengths: [7, 4] })
      const alone = [a, b].map((x) => {
        const cache = createKvCache(smallConfig, 1)
        return { cache, prefill: run(x, { cache }) }
      })
      expectClose(
        tokens(tf.slice(prefill.output, [0, 0, 0], [1, -1, -1]) as tf.Tensor3D, 0, 7),
        alone[0]!.prefill.output,
        1e-5,
        1e-4,
      )
      expectClose(
        tokens(tf.slice(prefill.output, [1, 0, 0], [1, -1, -1]) as tf.Tensor3D, 0, 4),
        alone[1]!.prefill.output,
        1e-5,
        1e-4,
      )
      expect(batched.lengths).toEqual([7, 4])
      // one decode step for both, at their own positions 7 and 4
      const next = inputs(2, 1, 10)
      const step = run(next, { cache: batched, startPos: [7, 4] })
      const aloneSteps = alone.map(({ cache }, i) =>
        run(tf.slice(next, [i, 0, 0], [1, -1, -1]) as tf.Tensor3D, { cache, startPos: [7, 4][i]! }),
      )
      expectClose(
        step.output,
        tf.concat(
          aloneSteps.map((s) => s.output),
          0,
        ),
        1e-5,
        1e-4,
      )
      expect(indexSets(step.indices)).toEqual(aloneSteps.flatMap((s) => indexSets(s.indices)))
      expect(batched.lengths).toEqual([8, 5])
      disposeKvCache(batched)
      for (const { cache } of alone) disposeKvCache(cache)
    })
  })

  it("a sequence with no tokens at all in the batch gives zeros, not NaN, and leaves the others unchanged", () => {
    tf.tidy(() => {
      const x = inputs(2, 4, 16)
      for (const mode of ["mha", "mqa"] as const) {
        const cache = createKvCache(smallConfig, 2)
        const out = run(x, { cache, validLengths: [4, 0], mode }).output
        expect(Array.from(tf.slice(out, [1, 0, 0], [1, -1, -1]).dataSync()).every((v) => v === 0)).toBe(true)
        expectClose(
          tf.slice(out, [0, 0, 0], [1, -1, -1]),
          run(tf.slice(x, [0, 0, 0], [1, -1, -1]) as tf.Tensor3D, { mode }).output,
          1e-6,
          1e-5,
        )
        expect(cache.lengths).toEqual([4, 0])
        disposeKvCache(cache)
      }
    })
  })

  it("padding tokens change nothing in the real tokens' outputs", () => {
    tf.tidy(() => {
      const real = inputs(1, 5, 11)
      const outputs = [12, 13].map((seed) => {
        const cache = createKvCache(smallConfig, 1)
        const out = run(tf.concat([real, inputs(1, 3, seed)], 1), { cache, validLengths: [5] }).output
        disposeKvCache(cache)
        return tokens(out, 0, 5)
      })
      expectClose(outputs[0]!, outputs[1]!, 0, 0)
    })
  })

  it("rejects a write that would leave a gap, one past the capacity, and startPos > 0 without a cache", () => {
    const cache: LayerKvCache = createKvCache(smallConfig, 1, 8)
    const x = inputs(1, 4, 14)
    run(x, { cache })
    expect(() => run(x, { cache, startPos: 5 })).toThrow(/gap/)
    run(x, { cache, startPos: 4 })
    expect(() => run(tokens(x, 0, 1), { cache, startPos: 8 })).toThrow(/capacity/)
    expect(() => run(x, { startPos: 3 })).toThrow(/without a cache/)
    disposeKvCache(cache)
    x.dispose()
  })

  it("repeated decode steps do not grow the number of live tensors", () => {
    const cache = createKvCache(smallConfig, 1)
    const x = inputs(1, 1, 15)
    const step = (pos: number) => {
      const r = attentionLayer(weights, smallConfig, x, { cache, startPos: pos })
      tf.dispose([r.output, r.indices])
    }
    step(0)
    step(1)
    const before = tf.memory().numTensors
    for (let pos = 2; pos < 6; pos++) step(pos)
    expect(tf.memory().numTensors).toBe(before)
    disposeKvCache(cache)
    x.dispose()
  })
})

/** Reorders per-row sets of a [B, T] prefill into the order chunked calls produce them (chunk by chunk, b then t). */
const regroup = (rows: Array<string>, batch: number, total: number, chunks: Array<number>): Array<string> => {
  const out: Array<string> = []
  let start = 0
  for (const n of chunks) {
    for (let b = 0; b < batch; b++) for (let t = start; t < start + n; t++) out.push(rows[b * total + t]!)
    start += n
  }
  return out
}
