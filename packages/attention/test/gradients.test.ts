/**
 * Training (docs/attention.md §6, §9): the custom gradient of sparse attention equals the gradient tfjs derives for the
 * dense masked reference and finite differences; both indexer losses have the KL gradient softmax(I) − p; the
 * indexer losses send no gradient into the indexer's inputs, and the attention output none into the indexer.
 * Runs on wasm: the custom gradient scatters with UnsortedSegmentSum when the backend has it, else ScatterNd.
 */
import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type AttentionWeights,
  attentionLayer,
  batchLayout,
  causalMask,
  denseIndexerLoss,
  denseMlaAttention,
  disposeAttentionWeights,
  indicesToMask,
  randomAttentionWeights,
  sparseIndexerLoss,
  sparseMlaAttention,
} from "../src/index.ts"
import { expectClose, smallConfig } from "./helpers.ts"

beforeAll(async () => {
  await initBackend("wasm")
})

/** Directional derivative of f at x along v by a central difference. */
const centralDifference = (f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, v: tf.Tensor, eps: number): number =>
  tf.tidy(() => {
    const plus = f(tf.add(x, tf.mul(v, eps))).dataSync()[0] as number
    const minus = f(tf.sub(x, tf.mul(v, eps))).dataSync()[0] as number
    return (plus - minus) / (2 * eps)
  })

const dot = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.sum(tf.mul(a, b)).dataSync()[0] as number)

const allZero = (t: tf.Tensor): boolean => Array.from(t.dataSync()).every((v) => v === 0)
const maxAbs = (t: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0] as number)

describe("sparse attention gradient", () => {
  const [batch, tokens, heads, keys, width, valueDim] = [2, 3, 2, 7, 6, 4]
  const scale = 0.4
  let indices: tf.Tensor3D
  beforeAll(() => {
    indices = tf.tensor3d(
      [
        [
          [0, 3, -1, 5],
          [6, 1, 2, -1],
          [4, -1, -1, -1],
        ],
        [
          [2, 5, 6, 0],
          [-1, 1, 3, 4],
          [5, 6, -1, 0],
        ],
      ],
      undefined,
      "int32",
    )
  })
  afterAll(() => indices.dispose())

  /** L = Σ out ⊙ R₁ + Σ lse ⊙ R₂ (a generic linear read-out of both outputs). */
  const readOut = (result: { output: tf.Tensor; lse: tf.Tensor }) =>
    tf.add(
      tf.sum(tf.mul(result.output, tf.randomNormal(result.output.shape, 0, 1, "float32", 21))),
      tf.sum(tf.mul(result.lse, tf.randomNormal(result.lse.shape, 0, 1, "float32", 22))),
    ) as tf.Scalar

  it("equals tfjs's own gradient of the dense masked reference, in q and in kv", () => {
    tf.tidy(() => {
      const q = tf.randomNormal([batch, tokens, heads, width], 0, 1, "float32", 1)
      const kv = tf.randomNormal([batch, keys, width], 0, 1, "float32", 2)
      const mask = indicesToMask(indices, keys)
      const sparseGrads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        readOut(sparseMlaAttention(a as tf.Tensor4D, b as tf.Tensor3D, indices, scale, valueDim)),
      )([q, kv])
      const denseGrads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        readOut(denseMlaAttention(a as tf.Tensor4D, b as tf.Tensor3D, mask, scale, valueDim)),
      )([q, kv])
      expectClose(sparseGrads[0]!, denseGrads[0]!, 1e-5, 1e-4)
      expectClose(sparseGrads[1]!, denseGrads[1]!, 1e-5, 1e-4)
      expect(maxAbs(sparseGrads[1]!)).toBeGreaterThan(1e-2)
    })
  })

  it("matches central differences along random directions", () => {
    tf.tidy(() => {
      const q = tf.randomNormal([batch, tokens, heads, width], 0, 1, "float32", 3)
      const kv = tf.randomNormal([batch, keys, width], 0, 1, "float32", 4)
      const loss = (a: tf.Tensor, b: tf.Tensor) =>
        readOut(sparseMlaAttention(a as tf.Tensor4D, b as tf.Tensor3D, indices, scale, valueDim))
      const [dq, dkv] = tf.grads(loss)([q, kv])
      const vq = tf.randomNormal(q.shape, 0, 1, "float32", 5)
      const vkv = tf.randomNormal(kv.shape, 0, 1, "float32", 6)
      const fdQ = centralDifference((a) => loss(a, kv), q, vq, 1e-2)
      const fdKv = centralDifference((b) => loss(q, b), kv, vkv, 1e-2)
      expect(Math.abs(fdQ - dot(dq!, vq))).toBeLessThan(1e-2 * Math.max(1, Math.abs(fdQ)))
      expect(Math.abs(fdKv - dot(dkv!, vkv))).toBeLessThan(1e-2 * Math.max(1, Math.abs(fdKv)))
    })
  })
})

describe("indexer losses", () => {
  const [batch, tokens, keys] = [2, 5, 5]
  const layout = batchLayout(batch, tokens)
  /** A target distribution over each causal prefix. */
  const target = (causal: tf.Tensor) =>
    tf.tidy(() => {
      const raw = tf.where(
        causal,
        tf.exp(tf.randomNormal([batch, tokens, keys], 0, 1, "float32", 31)),
        tf.zeros([batch, tokens, keys]),
      )
      return tf.div(raw, tf.sum(raw, -1, true)) as tf.Tensor3D
    })
  const maskedSoftmaxOf = (scores: tf.Tensor, mask: tf.Tensor) =>
    tf.tidy(() => {
      const e = tf.where(mask, tf.exp(scores), tf.zerosLike(scores))
      return tf.div(e, tf.sum(e, -1, true))
    })

  it("dense warm-up: ∂L/∂I = softmax_causal(I) − p, L ≥ 0, L = 0 when p = softmax(I), and central differences agree", () => {
    tf.tidy(() => {
      const causal = causalMask(layout)
      const p = target(causal)
      const scores = tf.randomNormal([batch, tokens, keys], 0, 1, "float32", 32) as tf.Tensor3D
      const loss = (s: tf.Tensor) => denseIndexerLoss(p, s as tf.Tensor3D, causal)
      const grad = tf.grad(loss)(scores)
      expectClose(grad, tf.where(causal, tf.sub(maskedSoftmaxOf(scores, causal), p), tf.zerosLike(p)), 1e-6, 1e-5)
      expect(loss(scores).dataSync()[0]).toBeGreaterThan(0)
      expect(
        Math.abs(
          denseIndexerLoss(maskedSoftmaxOf(scores, causal) as tf.Tensor3D, scores, causal).dataSync()[0] as number,
        ),
      ).toBeLessThan(1e-5)
      const v = tf.randomNormal(scores.shape, 0, 1, "float32", 33)
      const fd = centralDifference(loss, scores, v, 1e-2)
      expect(Math.abs(fd - dot(grad, v))).toBeLessThan(1e-2 * Math.max(1, Math.abs(fd)))
      expectClose(
        denseIndexerLoss(p, scores, causal, { reduction: "mean" }),
        tf.div(loss(scores), batch * tokens),
        1e-6,
        1e-6,
      )
    })
  })

  it("sparse stage: the KL is over the selected set only, with p renormalised there, and central differences agree", () => {
    tf.tidy(() => {
      const causal = causalMask(layout)
      const p = target(causal)
      const indices = tf.tensor3d(
        Array.from({ length: batch }, (_, b) =>
          Array.from({ length: tokens }, (_, t) =>
            [t, (t + b) % (t + 1), -1].map((v, i, a) => (i > 0 && a.indexOf(v) < i ? -1 : v)),
          ),
        ),
        undefined,
        "int32",
      )
      const selected = indicesToMask(indices, keys)
      const scores = tf.randomNormal([batch, tokens, keys], 0, 1, "float32", 34) as tf.Tensor3D
      const loss = (s: tf.Tensor) => sparseIndexerLoss(p, s as tf.Tensor3D, indices)
      const grad = tf.grad(loss)(scores)
      const restricted = tf.where(selected, p, tf.zerosLike(p))
      const pHat = tf.div(restricted, tf.sum(restricted, -1, true))
      expectClose(
        grad,
        tf.where(selected, tf.sub(maskedSoftmaxOf(scores, selected), pHat), tf.zerosLike(p)),
        1e-6,
        1e-5,
      )
      const v = tf.randomNormal(scores.shape, 0, 1, "float32", 35)
      const fd = centralDifference(loss, scores, v, 1e-2)
      expect(Math.abs(fd - dot(grad, v))).toBeLessThan(1e-2 * Math.max(1, Math.abs(fd)))
      // scores outside the selected set do not matter at all
      const elsewhere = tf.where(selected, scores, tf.mul(scores, 100)) as tf.Tensor3D
      expectClose(loss(elsewhere), loss(scores), 1e-6, 1e-6)
    })
  })
})

describe("indexer losses with right padding", () => {
  // Two sequences of 3 and 5 real query rows in one [2, 5] chunk (keys = positions 0..4); row t ≥ valid[b] is padding.
  const [tokens, valid] = [5, [3, 5]]
  const padded = batchLayout(2, tokens, { validLengths: valid })
  const normalised = (raw: tf.Tensor, mask: tf.Tensor) =>
    tf.tidy(() => {
      const e = tf.where(mask, tf.exp(raw), tf.zerosLike(raw))
      return tf.div(e, tf.maximum(tf.sum(e, -1, true), 1e-30)) as tf.Tensor3D
    })
  /** Sequence b alone, unpadded: its rows and keys of the padded tensors. */
  const alone = (t: tf.Tensor3D, b: number) => t.slice([b, 0, 0], [1, valid[b] as number, valid[b] as number])

  for (const stage of ["dense", "sparse"] as const) {
    it(`${stage}: a padded batch gives the loss and valid-row gradients of the sequences alone; padding rows get 0`, () => {
      tf.tidy(() => {
        const causal = causalMask(padded)
        // Padding rows of the layout see every key of their sequence and carry a target there: the trap.
        const p = normalised(tf.randomNormal([2, tokens, tokens], 0, 1, "float32", 51), causal)
        const scores = tf.randomNormal([2, tokens, tokens], 0, 1, "float32", 52) as tf.Tensor3D
        const indices = tf.tensor3d(
          Array.from({ length: 2 }, () => Array.from({ length: tokens }, (_, t) => [t, t > 0 ? 0 : -1])),
          undefined,
          "int32",
        )
        const loss = (
          target: tf.Tensor3D,
          s: tf.Tensor3D,
          mask: tf.Tensor3D,
          idx: tf.Tensor3D,
          options: { reduction?: "sum" | "mean"; validLengths?: ReadonlyArray<number> },
        ) =>
          stage === "dense" ? denseIndexerLoss(target, s, mask, options) : sparseIndexerLoss(target, s, idx, options)
        for (const reduction of ["sum", "mean"] as const) {
          const paddedLoss = (s: tf.Tensor) =>
            loss(p, s as tf.Tensor3D, causal, indices, { reduction, validLengths: valid })
          const aloneSums = [0, 1].map((b) => {
            const n = valid[b] as number
            const mask = causalMask(batchLayout(1, n))
            const idx = indices.slice([b, 0, 0], [1, n, 2]) as tf.Tensor3D
            const l = (s: tf.Tensor) => loss(alone(p, b), s as tf.Tensor3D, mask, idx, { reduction: "sum" })
            return { value: l(alone(scores, b)), grad: tf.grad(l)(alone(scores, b)) }
          })
          const sum = tf.add(aloneSums[0]!.value, aloneSums[1]!.value)
          expectClose(paddedLoss(scores), reduction === "sum" ? sum : tf.div(sum, 8), 1e-6, 1e-5)
          const grad = tf.grad(paddedLoss)(scores)
          const scale = reduction === "sum" ? 1 : 1 / 8
          for (const b of [0, 1])
            expectClose(alone(grad as tf.Tensor3D, b), tf.mul(aloneSums[b]!.grad, scale), 1e-6, 1e-5)
          // Padding rows (sequence 0, rows 3 and 4): exactly zero gradient, and the loss does not see their scores.
          expect(allZero(grad.slice([0, 3, 0], [1, 2, tokens]))).toBe(true)
          const noisy = tf.where(
            tf.logicalAnd(
              tf.equal(tf.range(0, 2).reshape([2, 1, 1]), 0),
              tf.greaterEqual(tf.range(0, tokens).reshape([1, tokens, 1]), 3),
            ),
            tf.mul(scores, 50),
            scores,
          )
          expectClose(paddedLoss(noisy), paddedLoss(scores), 1e-6, 1e-6)
        }
        // Without validLengths the padding rows count (the old behaviour, still the default for unpadded batches).
        const unmasked = loss(p, scores, causal, indices, {}).dataSync()[0] as number
        const masked = loss(p, scores, causal, indices, { validLengths: valid }).dataSync()[0] as number
        expect(Math.abs(unmasked - masked)).toBeGreaterThan(1e-4)
      })
    })
  }

  it("an empty mask row contributes 0 and a finite (zero) gradient", () => {
    tf.tidy(() => {
      const mask = tf.tensor3d([
        [
          [true, true, false],
          [false, false, false],
        ],
      ])
      const p = normalised(tf.randomNormal([1, 2, 3], 0, 1, "float32", 53), mask)
      const scores = tf.randomNormal([1, 2, 3], 0, 1, "float32", 54) as tf.Tensor3D
      const grad = tf.grad((s: tf.Tensor) => denseIndexerLoss(p, s as tf.Tensor3D, mask))(scores)
      expect(Array.from(grad.dataSync()).every(Number.isFinite)).toBe(true)
      expect(allZero(grad.slice([0, 1, 0], [1, 1, 3]))).toBe(true)
    })
  })

  it("rejects validLengths that do not fit the batch", () => {
    tf.tidy(() => {
      const causal = causalMask(padded)
      expect(() =>
        denseIndexerLoss(causal.cast("float32") as tf.Tensor3D, causal.cast("float32") as tf.Tensor3D, causal, {
          validLengths: [6, 1],
        }),
      ).toThrow(/validLengths/)
    })
  })
})

describe("detach: what trains what", () => {
  let weights: AttentionWeights
  beforeAll(() => {
    weights = randomAttentionWeights(smallConfig, 41)
  })
  afterAll(() => disposeAttentionWeights(weights))

  const x = () => tf.randomNormal([2, 6, smallConfig.dim], 0, 1, "float32", 42) as tf.Tensor3D

  /** Gradients of `read(layer result)` w.r.t. x, two MLA weights and three indexer weights. */
  const gradients = (
    read: (r: ReturnType<typeof attentionLayer>) => tf.Scalar,
    options: Parameters<typeof attentionLayer>[3],
  ) =>
    tf.grads((input: tf.Tensor, wqA: tf.Tensor, wkvB: tf.Tensor, iWqB: tf.Tensor, iWk: tf.Tensor, iProj: tf.Tensor) => {
      const w: AttentionWeights = {
        ...weights,
        wq_a: wqA as tf.Tensor2D,
        wkv_b: wkvB as tf.Tensor2D,
        indexer: {
          ...weights.indexer,
          wq_b: iWqB as tf.Tensor2D,
          wk: iWk as tf.Tensor2D,
          weights_proj: iProj as tf.Tensor2D,
        },
      }
      // stopGradient makes leaves (no tape path at all), and tf.grads throws for an input with no path: the
      // zero-weighted sum connects every input, so "no gradient" reads as an exact zero.
      const connect = tf.mul(0, tf.addN([input, wqA, wkvB, iWqB, iWk, iProj].map((t) => tf.sum(t))))
      return tf.add(read(attentionLayer(w, smallConfig, input as tf.Tensor3D, options)), connect) as tf.Scalar
    })([x(), weights.wq_a, weights.wkv_b, weights.indexer.wq_b, weights.indexer.wk, weights.indexer.weights_proj])

  for (const [stage, selection] of [
    ["dense warm-up", "dense"],
    ["sparse", "topk"],
  ] as const) {
    it(`the ${stage} indexer loss reaches only the indexer weights (zero into x and the MLA weights)`, () => {
      tf.tidy(() => {
        const [dx, dWqA, dWkvB, dIWqB, dIWk, dIProj] = gradients(
          ({ training, indices }) => {
            const t = training!
            return selection === "dense"
              ? denseIndexerLoss(t.target, t.scores, t.causal)
              : sparseIndexerLoss(t.target, t.scores, indices)
          },
          { training: true, selection },
        )
        for (const g of [dx!, dWqA!, dWkvB!]) expect(allZero(g)).toBe(true)
        for (const g of [dIWqB!, dIWk!, dIProj!]) expect(maxAbs(g)).toBeGreaterThan(1e-6)
      })
    })
  }

  for (const mode of ["mha", "mqa"] as const) {
    it(`the attention output (${mode} mode) sends no gradient into the indexer weights but does into x and MLA`, () => {
      tf.tidy(() => {
        const probe = (r: ReturnType<typeof attentionLayer>) =>
          tf.sum(tf.mul(r.output, tf.randomNormal(r.output.shape, 0, 1, "float32", 43))) as tf.Scalar
        const [dx, dWqA, dWkvB, dIWqB, dIWk, dIProj] = gradients(probe, { mode })
        for (const g of [dIWqB!, dIWk!, dIProj!]) expect(allZero(g)).toBe(true)
        for (const g of [dx!, dWqA!, dWkvB!]) expect(maxAbs(g)).toBeGreaterThan(1e-6)
      })
    })
  }

  it("the MQA sparse path (custom gradient) and the MHA path (tfjs gradients) give the same gradients", () => {
    tf.tidy(() => {
      const probe = (r: ReturnType<typeof attentionLayer>) =>
        tf.sum(tf.mul(r.output, tf.randomNormal(r.output.shape, 0, 1, "float32", 44))) as tf.Scalar
      const mqa = gradients(probe, { mode: "mqa" })
      const mha = gradients(probe, { mode: "mha" })
      for (let i = 0; i < 3; i++) expectClose(mqa[i]!, mha[i]!, 1e-5, 1e-3)
    })
  })

  it("the training target is a distribution on each query's attended keys", () => {
    tf.tidy(() => {
      const result = attentionLayer(weights, smallConfig, x(), { training: true })
      const { target } = result.training!
      expectClose(tf.sum(target, -1), tf.ones([2, 6]), 1e-6, 1e-6)
      const outside = tf.where(indicesToMask(result.indices, result.keyCount), tf.zerosLike(target), target)
      expect(allZero(outside)).toBe(true)
    })
  })

  it("a few steps of the warm-up loss on the indexer weights lower it", () => {
    const trainable = [weights.indexer.wq_b, weights.indexer.wk, weights.indexer.weights_proj].map((w) =>
      tf.variable(w.clone()),
    )
    const input = x()
    const lossOf = () =>
      tf.tidy(() => {
        const [wqB, wk, proj] = trainable as [tf.Variable<tf.Rank.R2>, tf.Variable<tf.Rank.R2>, tf.Variable<tf.Rank.R2>]
        const w: AttentionWeights = { ...weights, indexer: { ...weights.indexer, wq_b: wqB, wk, weights_proj: proj } }
        const r = attentionLayer(w, smallConfig, input, { training: true, selection: "dense" })
        return denseIndexerLoss(r.training!.target, r.training!.scores, r.training!.causal)
      })
    const optimizer = tf.train.adam(0.05)
    const first = lossOf().dataSync()[0] as number
    for (let step = 0; step < 15; step++) optimizer.minimize(lossOf, false, trainable)
    const last = lossOf().dataSync()[0] as number
    expect(last).toBeLessThan(0.8 * first)
    tf.dispose([...trainable, input])
    optimizer.dispose()
  })
})
