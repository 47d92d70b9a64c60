/**
 * The native fused kernels (src/fused/kernels.ts, C in @ds/core native/src/attention*.c) equal their plain-tfjs
 * references: index scores, exact top-k (ties, k ≥ length, empty prefixes), sparse MQA attention (−1 slots,
 * duplicates, empty rows), and the whole attention layer gives the same results with and without them.
 * Skipped, with the reason printed, only when the native addon (with its attention module) is not built.
 */
import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import {
  type AttentionWeights,
  absorbOutput,
  absorbQuery,
  attentionLayer,
  createKvCache,
  denseMlaAttention,
  disposeAttentionWeights,
  disposeKvCache,
  type FusedAttentionKernels,
  indexerScoresReference,
  maskedSoftmax,
  nativeAttention,
  nativeAttentionReason,
  nativeFusedKernels,
  prefixMask,
  radixTopK,
  randomAttentionWeights,
  registerFusedAttentionKernels,
  registerNativeAttentionKernels,
  sparseMlaAttentionReference,
  topkIndicesReference,
} from "../src/index.ts"
import { expectClose, indexSets, smallConfig } from "./helpers.ts"

const kernels = nativeFusedKernels()
const skipReason = kernels === undefined ? nativeAttentionReason() : undefined
if (skipReason !== undefined) console.warn(`fused attention kernel tests skipped: ${skipReason}`)
const describeNative = kernels === undefined ? describe.skip : describe

/** The kernels, asserted present (only called inside describeNative). */
const fused = (): Required<FusedAttentionKernels> => kernels as Required<FusedAttentionKernels>

beforeAll(async () => {
  await initBackend("wasm")
})

afterEach(() => registerFusedAttentionKernels({}))

const seeds = fc.integer({ min: 0, max: 1 << 20 })

describeNative("native indexer scores", () => {
  it("equals the reference Σ_j w·ReLU(q·k) on random shapes, odd sizes included (property)", () => {
    const shapes = fc.record({
      batch: fc.integer({ min: 1, max: 2 }),
      tokens: fc.integer({ min: 1, max: 5 }),
      heads: fc.integer({ min: 1, max: 5 }),
      dim: fc.integer({ min: 1, max: 9 }),
      keys: fc.integer({ min: 1, max: 70 }),
      seed: seeds,
    })
    fc.assert(
      fc.property(shapes, ({ batch, tokens, heads, dim, keys, seed }) => {
        tf.tidy(() => {
          const q = tf.randomNormal([batch, tokens, heads, dim], 0, 1, "float32", seed) as tf.Tensor4D
          const w = tf.randomNormal([batch, tokens, heads], 0, 1, "float32", seed + 1) as tf.Tensor3D
          const k = tf.randomNormal([batch, keys, dim], 0, 1, "float32", seed + 2) as tf.Tensor3D
          const out = fused().indexerScores(q, w, k)
          expect(out).toBeDefined()
          expectClose(out as tf.Tensor, indexerScoresReference(q, w, k), 1e-5, 1e-4)
        })
      }),
      { numRuns: 40 },
    )
  })

  it("covers many keys, wide and padded head groups, two threads, and every instruction path", () => {
    tf.tidy(() => {
      // 70 heads: 80 padded rows = five 16-wide vectors, two chunks of four; 4501 keys: blocks of 4, a remainder,
      // three grains of the two-thread loop.
      const q = tf.randomNormal([1, 3, 70, 37], 0, 1, "float32", 5) as tf.Tensor4D
      const w = tf.randomNormal([1, 3, 70], 0, 1, "float32", 6) as tf.Tensor3D
      const k = tf.randomNormal([1, 4501, 37], 0, 1, "float32", 7) as tf.Tensor3D
      const reference = indexerScoresReference(q, w, k)
      for (const isa of [undefined, "avx2", "scalar"]) {
        if (isa !== undefined) process.env.DS_ATTENTION_ISA = isa
        try {
          expectClose(fused().indexerScores(q, w, k) as tf.Tensor, reference, 1e-5, 1e-4)
        } finally {
          delete process.env.DS_ATTENTION_ISA
        }
      }
    })
  })
})

/** Scores drawn from a few integers, so rows are full of ties. */
const tiedScores = (count: number, seed: number, levels: number): Float32Array => {
  let state = seed + 1
  return Float32Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return (state % levels) - levels / 2
  })
}

describeNative("native top-k", () => {
  const cases = fc.record({
    batch: fc.integer({ min: 1, max: 2 }),
    rows: fc.integer({ min: 1, max: 4 }),
    keys: fc.integer({ min: 1, max: 45 }),
    k: fc.integer({ min: 1, max: 50 }),
    levels: fc.constantFrom(2, 5, 1000, 1 << 20),
    seed: seeds,
  })

  it("gives the reference sets, and exactly the JS radix select's rows (ties to the lower index, −1 slots; property)", () => {
    fc.assert(
      fc.property(cases, ({ batch, rows, keys, k, levels, seed }) => {
        const scores = tiedScores(batch * rows * keys, seed, levels)
        const lengths = Int32Array.from({ length: batch * rows }, (_, r) => (seed + 13 * r) % (keys + 1))
        tf.tidy(() => {
          const s = tf.tensor3d(scores, [batch, rows, keys])
          const l = tf.tensor2d(lengths, [batch, rows], "int32")
          const native = fused().topk(s, l, k) as tf.Tensor3D
          expect(native.shape).toEqual([batch, rows, Math.min(k, keys)])
          expect(Array.from(native.dataSync())).toEqual(Array.from(radixTopK(scores, keys, lengths, k)))
          if (levels > 1000) expect(indexSets(native)).toEqual(indexSets(topkIndicesReference(s, l, k)))
        })
      }),
      { numRuns: 60 },
    )
  })

  it("selects 2048 of 131072 exactly (the long-row radix passes)", () => {
    const keys = 131_072
    const scores = tiedScores(keys, 3, 1 << 16)
    const lengths = Int32Array.of(keys)
    tf.tidy(() => {
      const native = fused().topk(tf.tensor3d(scores, [1, 1, keys]), tf.tensor2d(lengths, [1, 1], "int32"), 2048)
      expect(Array.from((native as tf.Tensor).dataSync())).toEqual(Array.from(radixTopK(scores, keys, lengths, 2048)))
    })
  })
})

/** Random indices in −1 .. keys − 1 (duplicates allowed), some rows all −1. */
const randomIndices = (count: number, keys: number, seed: number): Int32Array => {
  let state = seed + 7
  return Int32Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return (state % (keys + 1)) - 1 - (state % 17 === 0 ? 1 : 0)
  })
}

describeNative("native sparse MQA attention", () => {
  it("equals the gather reference: output and lse, −1 and duplicate indices, empty rows (property)", () => {
    const shapes = fc.record({
      batch: fc.integer({ min: 1, max: 2 }),
      tokens: fc.integer({ min: 1, max: 4 }),
      heads: fc.integer({ min: 1, max: 5 }),
      width: fc.integer({ min: 2, max: 11 }),
      keys: fc.integer({ min: 1, max: 30 }),
      k: fc.integer({ min: 1, max: 9 }),
      seed: seeds,
    })
    fc.assert(
      fc.property(shapes, ({ batch, tokens, heads, width, keys, k, seed }) => {
        const valueDim = 1 + (seed % (width - 1))
        const indices = randomIndices(batch * tokens * k, keys, seed)
        if (seed % 5 === 0) indices.fill(-1, 0, k) // one row with nothing selected
        tf.tidy(() => {
          const q = tf.randomNormal([batch, tokens, heads, width], 0, 1, "float32", seed) as tf.Tensor4D
          const kv = tf.randomNormal([batch, keys, width], 0, 1, "float32", seed + 1) as tf.Tensor3D
          const idx = tf.tensor3d(indices, [batch, tokens, k], "int32")
          const native = fused().sparseAttention(q, kv, idx, 0.37, valueDim)
          const reference = sparseMlaAttentionReference(q, kv, idx, 0.37, valueDim)
          expect(native).toBeDefined()
          expectClose(native?.output as tf.Tensor, reference.output, 1e-5, 1e-4)
          expectClose(native?.lse as tf.Tensor, reference.lse, 1e-5, 1e-5)
        })
      }),
      { numRuns: 50 },
    )
  })

  it("rejects an index past the keys instead of reading outside the cache", () => {
    tf.tidy(() => {
      const q = tf.ones([1, 1, 2, 4]) as tf.Tensor4D
      const kv = tf.ones([1, 3, 4]) as tf.Tensor3D
      const idx = tf.tensor3d([0, 3], [1, 1, 2], "int32")
      expect(() => fused().sparseAttention(q, kv, idx, 1, 4)).toThrow(/index >= keyCount/)
    })
  })

  it("keeps no tensor behind across repeated calls", () => {
    const q = tf.randomNormal([1, 2, 3, 6]) as tf.Tensor4D
    const kv = tf.randomNormal([1, 9, 6]) as tf.Tensor3D
    const idx = tf.tensor3d([0, 4, -1, 8, 2, 2], [1, 2, 3], "int32")
    const run = () => {
      const r = fused().sparseAttention(q, kv, idx, 0.5, 4)
      r?.output.dispose()
      r?.lse.dispose()
    }
    run()
    const before = tf.memory().numTensors
    for (let i = 0; i < 5; i++) run()
    expect(tf.memory().numTensors).toBe(before)
    tf.dispose([q, kv, idx])
  })
})

describeNative("attentionLayer with the native kernels registered", () => {
  let weights: AttentionWeights
  beforeAll(() => {
    weights = randomAttentionWeights(smallConfig, 21)
  })
  afterAll(() => disposeAttentionWeights(weights))

  /** Prefill 9 tokens, then decode 3 single tokens with a cache; returns outputs and index sets of every call. */
  const session = (mode: "mqa" | "auto" | "mha") => {
    const cache = createKvCache(smallConfig, 2)
    const x = tf.randomNormal([2, 12, smallConfig.dim], 0, 1, "float32", 4) as tf.Tensor3D
    const steps = [
      { from: 0, n: 9 },
      { from: 9, n: 1 },
      { from: 10, n: 1 },
      { from: 11, n: 1 },
    ]
    const results = steps.map(({ from, n }) =>
      tf.tidy(() => {
        const chunk = tf.slice(x, [0, from, 0], [-1, n, -1]) as tf.Tensor3D
        const r = attentionLayer(weights, smallConfig, chunk, { cache, startPos: from, mode, returnScores: true })
        return { output: r.output, sets: indexSets(r.indices), scores: r.scores as tf.Tensor3D }
      }),
    )
    disposeKvCache(cache)
    x.dispose()
    return results
  }

  /** The native kernels, each counting the calls it serves (it declines none on wasm). */
  const countingKernels = (calls: Record<string, number>): FusedAttentionKernels => {
    const k = fused()
    const counted =
      <A extends Array<unknown>, R>(name: string, kernel: (...args: A) => R) =>
      (...args: A): R => {
        calls[name] = (calls[name] ?? 0) + 1
        return kernel(...args)
      }
    return {
      indexerScores: counted("indexerScores", k.indexerScores),
      topk: counted("topk", k.topk),
      sparseAttention: counted("sparseAttention", k.sparseAttention),
    }
  }

  it("gives the same outputs, index sets and scores as the references (prefill + decode, every mode)", () => {
    for (const mode of ["mqa", "auto", "mha"] as const) {
      const reference = session(mode)
      const calls: Record<string, number> = {}
      registerFusedAttentionKernels(countingKernels(calls))
      const native = session(mode)
      registerFusedAttentionKernels({})
      expect(calls.indexerScores).toBe(4)
      expect(calls.topk).toBe(4)
      // "auto" with a cache takes the sparse MQA path for the prefill too; MHA attends with the index mask instead.
      expect(calls.sparseAttention ?? 0).toBe(mode === "mha" ? 0 : 4)
      native.forEach((step, i) => {
        const ref = reference[i] as (typeof reference)[number]
        expect(step.sets).toEqual(ref.sets)
        expectClose(step.scores, ref.scores, 1e-5, 1e-4)
        expectClose(step.output, ref.output, 1e-5, 1e-4)
      })
      tf.dispose([...reference, ...native].flatMap((s) => [s.output, s.scores]))
    }
  })

  it("installs all three kernels when the addon is built", () => {
    expect(registerNativeAttentionKernels()).toEqual({
      native: true,
      kernels: ["indexerScores", "topk", "sparseAttention"],
    })
  })
})

describeNative("native dense baselines of the benchmark (blocked online softmax)", () => {
  it("dense MQA equals the masked dense reference over causal prefixes, across key blocks and empty rows", () => {
    // 1100 heads make a block 256 keys long, so 700 keys take three blocks.
    const [tokens, heads, width, keys, valueDim] = [3, 1100, 7, 700, 5]
    const lengths = Int32Array.of(0, 300, 700)
    tf.tidy(() => {
      const q = tf.randomNormal([1, tokens, heads, width], 0, 1, "float32", 1) as tf.Tensor4D
      const kv = tf.randomNormal([1, keys, width], 0, 1, "float32", 2) as tf.Tensor3D
      const reference = denseMlaAttention(
        q,
        kv,
        prefixMask(tf.tensor2d(lengths, [1, tokens], "int32"), keys),
        0.3,
        valueDim,
      )
      const output = new Float32Array(tokens * heads * valueDim)
      const lse = new Float32Array(tokens * heads)
      nativeAttention()?.attentionDenseMqa({
        q: q.dataSync() as Float32Array,
        kv: kv.dataSync() as Float32Array,
        rowLengths: lengths,
        tokens,
        heads,
        width,
        valueDim,
        scale: 0.3,
        keyCount: keys,
        output,
        lse,
      })
      expectClose(tf.tensor4d(output, [1, tokens, heads, valueDim]), reference.output, 1e-5, 1e-4)
      expectClose(tf.tensor3d(lse, [1, tokens, heads]), reference.lse, 1e-5, 1e-5)
    })
  })

  it("dense MHA equals softmax(scale·(q_nope·k_nope + q_rope·k_rope))·v per head over causal prefixes", () => {
    // 1030 tokens make a block 256 keys long; token t at position 70 + t sees keys 0 .. 70 + t.
    const [tokens, heads, nope, rope, valueDim, start] = [1030, 2, 5, 3, 4, 70]
    const keys = start + tokens
    const stride = keys + 9
    const lengths = Int32Array.from({ length: tokens }, (_, t) => start + t + 1)
    tf.tidy(() => {
      const q = tf.randomNormal([tokens, heads, nope + rope], 0, 1, "float32", 3)
      const keysNope = tf.randomNormal([heads, stride, nope], 0, 1, "float32", 4)
      const values = tf.randomNormal([heads, stride, valueDim], 0, 1, "float32", 5)
      const keysRope = tf.randomNormal([keys, rope], 0, 1, "float32", 6)
      const allowed = prefixMask(tf.tensor2d(lengths, [1, tokens], "int32"), keys).squeeze([0])
      const perHead = Array.from({ length: heads }, (_, h) => {
        const qh = tf.squeeze(tf.slice(q, [0, h, 0], [-1, 1, -1]), [1])
        const kn = tf.squeeze(tf.slice(keysNope, [h, 0, 0], [1, keys, -1]), [0])
        const vh = tf.squeeze(tf.slice(values, [h, 0, 0], [1, keys, -1]), [0])
        const logits = tf.mul(
          tf.add(
            tf.matMul(tf.slice(qh, [0, 0], [-1, nope]), kn, false, true),
            tf.matMul(tf.slice(qh, [0, nope], [-1, rope]), keysRope, false, true),
          ),
          0.25,
        )
        const { probs, lse } = maskedSoftmax(logits, allowed)
        return { output: tf.matMul(probs as tf.Tensor2D, vh), lse }
      })
      const output = new Float32Array(tokens * heads * valueDim)
      const lse = new Float32Array(tokens * heads)
      nativeAttention()?.attentionDenseMha({
        q: q.dataSync() as Float32Array,
        keysNope: keysNope.dataSync() as Float32Array,
        values: values.dataSync() as Float32Array,
        keysRope: keysRope.dataSync() as Float32Array,
        rowLengths: lengths,
        tokens,
        heads,
        nope,
        rope,
        valueDim,
        keyCount: keys,
        keyStride: stride,
        scale: 0.25,
        output,
        lse,
      })
      expectClose(
        tf.tensor3d(output, [tokens, heads, valueDim]),
        tf.stack(
          perHead.map((p) => p.output),
          1,
        ),
        1e-5,
        1e-4,
      )
      expectClose(
        tf.tensor2d(lse, [tokens, heads]),
        tf.stack(
          perHead.map((p) => p.lse),
          1,
        ),
        1e-5,
        1e-5,
      )
    })
  })
})

describeNative("native absorbed up-projections (MQA mode)", () => {
  it("equal absorbQuery and absorbOutput with Wkv_b in the reference layout (19 heads: both threads)", () => {
    const config = { ...smallConfig, n_heads: 19 }
    const weights = randomAttentionWeights(config, 5)
    const { n_heads: heads, qk_nope_head_dim: nope, qk_rope_head_dim: rope, kv_lora_rank: kvLora } = config
    const valueDim = config.v_head_dim
    tf.tidy(() => {
      const qNope = tf.randomNormal([2, 3, heads, nope], 0, 1, "float32", 1) as tf.Tensor4D
      const qRope = tf.randomNormal([2, 3, heads, rope], 0, 1, "float32", 2) as tf.Tensor4D
      const latent = tf.randomNormal([2, 3, heads, kvLora], 0, 1, "float32", 3) as tf.Tensor4D
      const shape = { tokens: 6, heads, nope, rope, valueDim, kvLora, wkvB: weights.wkv_b.dataSync() as Float32Array }
      const query = new Float32Array(6 * heads * (kvLora + rope))
      const output = new Float32Array(6 * heads * valueDim)
      const q = tf.concat([qNope, qRope], -1).dataSync() as Float32Array
      nativeAttention()?.attentionAbsorbQuery({ ...shape, q, output: query })
      nativeAttention()?.attentionAbsorbOutput({ ...shape, latent: latent.dataSync() as Float32Array, output })
      expectClose(
        tf.tensor4d(query, [2, 3, heads, kvLora + rope]),
        absorbQuery(weights, config, { qNope, qRope }),
        1e-5,
        1e-4,
      )
      expectClose(tf.tensor4d(output, [2, 3, heads, valueDim]), absorbOutput(weights, config, latent), 1e-5, 1e-4)
    })
    disposeAttentionWeights(weights)
  })
})
