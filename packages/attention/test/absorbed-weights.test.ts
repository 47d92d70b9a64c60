/**
 * Absorbed (MQA-mode) decode prepares W_UK / W_UV once per layer (docs/attention.md §5): the output is the one of
 * slicing Wkv_b afresh, repeated decode steps slice nothing and hold no new tensors, training still sends gradient
 * into Wkv_b, an optimizer-style `assign` invalidates the slices, and disposing the weights releases them.
 */
import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type AttentionWeights,
  absorbOutput,
  absorbQuery,
  attentionLayer,
  createKvCache,
  disposeAbsorbedProjections,
  disposeAttentionWeights,
  disposeKvCache,
  randomAttentionWeights,
} from "../src/index.ts"
import { expectClose, smallConfig } from "./helpers.ts"

const config = smallConfig
const { n_heads: heads, qk_nope_head_dim: nope, qk_rope_head_dim: ropeDim, kv_lora_rank: kvLora } = config
const vDim = config.v_head_dim

let weights: AttentionWeights

beforeAll(async () => {
  await initBackend("wasm")
  weights = randomAttentionWeights(config, 71)
})

afterAll(() => disposeAttentionWeights(weights))

/** The absorbed query and output computed by slicing Wkv_b on the spot (the behaviour before caching). */
const sliceAfresh = (wkvB: tf.Tensor, qNope: tf.Tensor4D, qRope: tf.Tensor4D, latent: tf.Tensor4D) =>
  tf.tidy(() => {
    const [b, t] = qNope.shape
    const perHead = wkvB.reshape([heads, nope + vDim, kvLora])
    const wUK = tf.slice(perHead, [0, 0, 0], [-1, nope, -1])
    const wUV = tf.slice(perHead, [0, nope, 0], [-1, vDim, -1])
    const q = tf.transpose(qNope.reshape([b * t, heads, nope]), [1, 0, 2])
    const query = tf.concat(
      [tf.transpose(tf.matMul(q, wUK), [1, 0, 2]).reshape([b, t, heads, kvLora]), qRope],
      -1,
    ) as tf.Tensor4D
    const o = tf.transpose(latent.reshape([b * t, heads, kvLora]), [1, 0, 2])
    const output = tf.transpose(tf.matMul(o, wUV, false, true), [1, 0, 2]).reshape([b, t, heads, vDim]) as tf.Tensor4D
    return { query, output }
  })

const inputsOf = (seed: number) => ({
  qNope: tf.randomNormal([2, 1, heads, nope], 0, 1, "float32", seed) as tf.Tensor4D,
  qRope: tf.randomNormal([2, 1, heads, ropeDim], 0, 1, "float32", seed + 1) as tf.Tensor4D,
  latent: tf.randomNormal([2, 1, heads, kvLora], 0, 1, "float32", seed + 2) as tf.Tensor4D,
})

describe("absorbed projections are prepared once per layer", () => {
  it("the absorbed query and output equal slicing Wkv_b afresh, bit for bit", () => {
    tf.tidy(() => {
      for (const seed of [1, 2]) {
        const { qNope, qRope, latent } = inputsOf(seed)
        const expected = sliceAfresh(weights.wkv_b, qNope, qRope, latent)
        expectClose(absorbQuery(weights, config, { qNope, qRope }), expected.query, 0, 0)
        expectClose(absorbOutput(weights, config, latent), expected.output, 0, 0)
      }
    })
  })

  it("repeated decode steps run no Slice of Wkv_b and leave the tensor count unchanged", async () => {
    const { qNope, qRope, latent } = inputsOf(3)
    const call = () =>
      tf.tidy(() => {
        const q = absorbQuery(weights, config, { qNope, qRope })
        const o = absorbOutput(weights, config, latent)
        return tf.concat([q.reshape([-1]), o.reshape([-1])])
      })
    tf.dispose(call()) // the first call may prepare the slices
    const before = tf.memory().numTensors
    const profile = await tf.profile(call)
    tf.dispose(profile.result as tf.Tensor)
    expect(profile.kernelNames).not.toContain("Slice")
    expect(tf.memory().numTensors).toBe(before)

    // Through the whole layer: absorbed decode steps from a KV cache.
    const cache = createKvCache(config, 2)
    const x = tf.randomNormal([2, 6, config.dim], 0, 1, "float32", 4) as tf.Tensor3D
    const step = (t: number) =>
      tf.tidy(() =>
        attentionLayer(weights, config, tf.slice(x, [0, t, 0], [-1, 1, -1]) as tf.Tensor3D, {
          cache,
          startPos: t,
          mode: "mqa",
        }).output.sum(),
      )
    tf.dispose(step(0))
    const decode = await tf.profile(() => step(1))
    tf.dispose(decode.result as tf.Tensor)
    // The layer slices the projections' own outputs (q, kv); none of its Slice kernels reads Wkv_b's shape.
    expect(decode.kernelNames).toContain("BatchMatMul")
    const wkvShape = JSON.stringify(weights.wkv_b.shape)
    const perHeadShape = JSON.stringify([heads, nope + vDim, kvLora])
    expect(decode.kernels.filter((k) => k.name === "Slice").map((k) => JSON.stringify(k.inputShapes[0]))).not.toContain(
      perHeadShape,
    )
    expect(wkvShape).not.toBe(perHeadShape)
    disposeKvCache(cache)
    x.dispose()
    tf.dispose([qNope, qRope, latent])
  })

  it("under a gradient tape the slices are taken afresh, so Wkv_b gets the gradient slicing would give it", () => {
    tf.tidy(() => {
      const { qNope, qRope, latent } = inputsOf(5)
      const probe = (w: tf.Tensor) => {
        const ws = { ...weights, wkv_b: w as tf.Tensor2D }
        return tf.add(tf.sum(absorbQuery(ws, config, { qNope, qRope })), tf.sum(absorbOutput(ws, config, latent)))
      }
      const reference = (w: tf.Tensor) => {
        const { query, output } = sliceAfresh(w, qNope, qRope, latent)
        return tf.add(tf.sum(query), tf.sum(output))
      }
      tf.dispose(probe(weights.wkv_b)) // prime the cache outside the tape
      const grad = tf.grad(probe)(weights.wkv_b)
      expect(tf.max(tf.abs(grad)).dataSync()[0]).toBeGreaterThan(1e-3)
      expectClose(grad, tf.grad(reference)(weights.wkv_b), 1e-6, 1e-5)
    })
  })

  it("a Variable.assign of Wkv_b (an optimizer step) invalidates the prepared slices", () => {
    tf.tidy(() => {
      const variable = tf.variable(weights.wkv_b.clone())
      const ws = { ...weights, wkv_b: variable as unknown as tf.Tensor2D }
      const { qNope, qRope, latent } = inputsOf(6)
      tf.dispose(absorbQuery(ws, config, { qNope, qRope }))
      variable.assign(tf.mul(variable, -2))
      const expected = sliceAfresh(variable, qNope, qRope, latent)
      expectClose(absorbQuery(ws, config, { qNope, qRope }), expected.query, 0, 0)
      expectClose(absorbOutput(ws, config, latent), expected.output, 0, 0)
      disposeAbsorbedProjections(variable)
      variable.dispose()
    })
  })

  it("disposing the weights releases the prepared slices", () => {
    const baseline = tf.memory().numTensors
    const own = randomAttentionWeights(config, 72)
    const { qNope, qRope, latent } = inputsOf(7)
    const withWeights = tf.memory().numTensors
    tf.dispose([absorbQuery(own, config, { qNope, qRope }), absorbOutput(own, config, latent)])
    expect(tf.memory().numTensors).toBe(withWeights + 2) // W_UK and W_UV, held for the next call
    disposeAttentionWeights(own)
    tf.dispose([qNope, qRope, latent])
    expect(tf.memory().numTensors).toBe(baseline)
  })
})
