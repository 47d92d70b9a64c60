/**
 * RoPE with YaRN (docs/attention.md §7): the ramp bounds and frequencies of the 671B config, the softmax temperature,
 * and the rotation laws of both pair layouts.
 */
import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import {
  applyRope,
  checkAttentionConfig,
  mlaSoftmaxScale,
  ropeFrequencies,
  ropeTable,
  yarnMscale,
  yarnRampRange,
} from "../src/index.ts"
import { expectClose, smallConfig } from "./helpers.ts"

beforeAll(async () => {
  await initBackend("wasm")
})

/** The 671B attention sizes with the ModelArgs defaults and a served context above 4096 (YaRN on). */
const config671B = {
  ...smallConfig,
  dim: 7168,
  n_heads: 128,
  q_lora_rank: 1536,
  kv_lora_rank: 512,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  v_head_dim: 128,
  index_n_heads: 64,
  index_head_dim: 128,
  index_topk: 2048,
  max_seq_len: 163840,
}

describe("YaRN", () => {
  it("ramps between pair 10 and pair 23 at 671B: unchanged below, divided by 40 above, linear between", () => {
    expect(yarnRampRange(config671B)).toEqual({ low: 10, high: 23 })
    const scaled = ropeFrequencies(config671B)
    const base = ropeFrequencies({ ...config671B, max_seq_len: 4096 })
    const ratio = (i: number) => (base[i] as number) / (scaled[i] as number)
    for (const i of [0, 5, 10]) expect(ratio(i)).toBeCloseTo(1, 5)
    for (const i of [23, 31]) expect(ratio(i)).toBeCloseTo(40, 3)
    expect(ratio(15)).toBeCloseTo(1.6, 4)
    expect(ratio(20)).toBeCloseTo(4, 3)
    expect(ratio(22)).toBeCloseTo(10, 3)
    expect(base[1]).toBeCloseTo(10000 ** (-2 / 64), 7)
  })

  it("scales the softmax by mscale² only when YaRN applies (0.135234 at 671B)", () => {
    expect(yarnMscale(config671B)).toBeCloseTo(0.1 * Math.log(40) + 1, 12)
    expect(mlaSoftmaxScale(config671B)).toBeCloseTo(0.135234, 6)
    expect(mlaSoftmaxScale({ ...config671B, max_seq_len: 4096 })).toBeCloseTo(192 ** -0.5, 12)
  })

  it("rejects a config with an odd rope dimension or an indexer narrower than it", () => {
    expect(() => checkAttentionConfig({ ...smallConfig, qk_rope_head_dim: 5 })).toThrow(/qk_rope_head_dim/)
    expect(() => checkAttentionConfig({ ...smallConfig, index_head_dim: 2 })).toThrow(/index_head_dim/)
    expect(checkAttentionConfig(smallConfig)).toBe(smallConfig)
  })
})

describe("applyRope", () => {
  const width = 8
  const at = (positions: Array<number>) =>
    ropeTable({ ...smallConfig, qk_rope_head_dim: width }, tf.tensor2d([positions]))

  it("interleaved rotates (x[2i], x[2i+1]) and half-split rotates (x[i], x[i+R/2]) by the same angle", () => {
    tf.tidy(() => {
      const x = tf.randomNormal([1, 3, 2, width], 0, 1, "float32", 1) as tf.Tensor4D
      const table = at([0, 3, 17])
      const interleaved = applyRope(x, table, "interleaved")
      // half-split(x) = unpermute(interleaved(permute(x))) with permute: [a0 a1 .. | b0 b1 ..] -> [a0 b0 a1 b1 ..]
      const half = width / 2
      const toInterleaved = Array.from({ length: width }, (_, j) => (j % 2 === 0 ? j / 2 : half + (j - 1) / 2))
      const fromInterleaved = Array.from({ length: width }, (_, j) => (j < half ? 2 * j : 2 * (j - half) + 1))
      const viaInterleaved = tf.gather(
        applyRope(tf.gather(x, toInterleaved, 3) as tf.Tensor4D, table, "interleaved"),
        fromInterleaved,
        3,
      )
      expectClose(applyRope(x, table, "half-split"), viaInterleaved, 1e-6, 1e-6)
      expectClose(tf.norm(interleaved, "euclidean", -1), tf.norm(x, "euclidean", -1), 1e-5, 1e-5)
      expectClose(tf.slice(interleaved, [0, 0, 0, 0], [1, 1, -1, -1]), tf.slice(x, [0, 0, 0, 0], [1, 1, -1, -1]), 0, 0)
    })
  })

  it("scores depend only on the relative position: q(p)·k(s) = q(p+d)·k(s+d), both layouts", () => {
    tf.tidy(() => {
      const q = tf.randomNormal([1, 1, width], 0, 1, "float32", 2) as tf.Tensor3D
      const k = tf.randomNormal([1, 1, width], 0, 1, "float32", 3) as tf.Tensor3D
      for (const layout of ["interleaved", "half-split"] as const) {
        const score = (p: number, s: number) =>
          tf.sum(tf.mul(applyRope(q, at([p]), layout), applyRope(k, at([s]), layout)))
        expectClose(score(9, 4), score(29, 24), 1e-5, 1e-5)
        expectClose(score(9, 4), score(5, 0), 1e-5, 1e-5)
      }
    })
  })
})
