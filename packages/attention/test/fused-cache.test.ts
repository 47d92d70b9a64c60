/**
 * The host-memory KV cache (written in place) holds exactly what the tensor cache of kv-cache.ts holds, and the
 * fused DSA layer over it returns what `attentionLayer` (MQA mode, top-k) returns over the tensor cache: chunked
 * prefill, multi-token decode, uneven batches with padding, and a rolled-back rewrite. The 8-bit index keys
 * dequantise to the float keys within their quantisation step, and the native 8-bit scores are exactly the
 * float formula over the dequantised queries and keys.
 */
import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type AttentionConfig,
  type AttentionWeights,
  attentionLayer,
  batchLayout,
  createHostKvCache,
  createKvCache,
  disposeAttentionWeights,
  disposeKvCache,
  dsaAttentionLayer,
  type HostKvCache,
  hostKvRows,
  type LayerKvCache,
  nativeAttention,
  nativeAttentionReason,
  packedKeyBytes,
  randomAttentionWeights,
  writeHostKvCacheArrays,
} from "../src/index.ts"
import { allCloseExcess, expectClose, indexSets, smallConfig } from "./helpers.ts"

const native = nativeAttention()
if (native === undefined) console.warn(`native parts of the host-cache tests skipped: ${nativeAttentionReason()}`)
const itNative = native === undefined ? it.skip : it

/** smallConfig with a top-k small enough to select, and index dims a multiple of 4 (for the 8-bit keys). */
const config: AttentionConfig = { ...smallConfig, index_topk: 5, index_head_dim: 8 }

let weights: AttentionWeights

beforeAll(async () => {
  await initBackend("wasm")
  weights = randomAttentionWeights(config, 31)
})

afterAll(() => disposeAttentionWeights(weights))

interface Step {
  readonly from: number | ReadonlyArray<number>
  readonly tokens: number
  readonly valid?: ReadonlyArray<number>
}

/** Host cache rows 0 .. E − 1 of every sequence, as the tensor cache lays them out ([B, E, width] flattened). */
const hostRows = (cache: HostKvCache, keyCount: number): Float32Array => {
  const out = new Float32Array(cache.batch * keyCount * cache.kvWidth)
  for (let b = 0; b < cache.batch; b++) out.set(hostKvRows(cache, b, keyCount), b * keyCount * cache.kvWidth)
  return out
}

const hostIndexRows = (cache: HostKvCache, keyCount: number): Float32Array => {
  const out = new Float32Array(cache.batch * keyCount * cache.indexDim)
  for (let b = 0; b < cache.batch; b++)
    out.set(
      cache.indexKeys.subarray(b * cache.capacity * cache.indexDim, (b * cache.capacity + keyCount) * cache.indexDim),
      b * keyCount * cache.indexDim,
    )
  return out
}

/** Runs the steps through both layers; checks caches, outputs and index sets after every step. */
const compareSessions = (batch: number, steps: ReadonlyArray<Step>, seed: number): void => {
  const tensorCache: LayerKvCache = createKvCache(config, batch)
  const hostCache = createHostKvCache(config, batch, { capacity: config.max_seq_len })
  steps.forEach((step, i) => {
    tf.tidy(() => {
      const x = tf.randomNormal([batch, step.tokens, config.dim], 0, 1, "float32", seed + i) as tf.Tensor3D
      const options = { startPos: step.from, ...(step.valid === undefined ? {} : { validLengths: step.valid }) }
      const reference = attentionLayer(weights, config, x, { ...options, cache: tensorCache, mode: "mqa" })
      const fused = dsaAttentionLayer(weights, config, x, { ...options, cache: hostCache })
      expect(fused.keyCount).toBe(reference.keyCount)
      expect(hostCache.lengths).toEqual(tensorCache.lengths)
      expect(hostRows(hostCache, reference.keyCount)).toEqual(tensorCache.kv.dataSync())
      expect(hostIndexRows(hostCache, reference.keyCount)).toEqual(tensorCache.indexKeys.dataSync())
      expect(indexSets(fused.indices)).toEqual(indexSets(reference.indices))
      // Padding tokens (t ≥ valid) are computed but meaningless; compare real tokens only.
      const valid = step.valid ?? Array(batch).fill(step.tokens)
      for (let b = 0; b < batch; b++) {
        const n = valid[b] as number
        if (n === 0) continue
        expectClose(
          tf.slice(fused.output, [b, 0, 0], [1, n, -1]),
          tf.slice(reference.output, [b, 0, 0], [1, n, -1]),
          1e-5,
          1e-4,
        )
      }
    })
  })
  disposeKvCache(tensorCache)
}

describe("host KV cache + fused DSA layer vs the tensor cache + attentionLayer", () => {
  it("chunked prefill then single- and multi-token decode (one sequence)", () => {
    compareSessions(
      1,
      [
        { from: 0, tokens: 7 },
        { from: 7, tokens: 4 },
        { from: 11, tokens: 1 },
        { from: 12, tokens: 3 },
      ],
      1,
    )
  })

  it("uneven batch with right padding, per-sequence start positions, and a rolled-back rewrite", () => {
    compareSessions(
      3,
      [
        { from: 0, tokens: 6, valid: [6, 2, 4] },
        { from: [6, 2, 4], tokens: 2 },
        { from: [8, 3, 6], tokens: 1 },
        { from: [5, 4, 7], tokens: 2, valid: [2, 1, 0] },
      ],
      2,
    )
  })

  it("writes only the new rows in place (earlier rows and the arrays themselves are untouched)", () => {
    const cache = createHostKvCache(config, 1, { capacity: 16 })
    const { kv } = cache
    const rows = (n: number, value: number) => ({
      kv: new Float32Array(n * cache.kvWidth).fill(value),
      indexKeys: new Float32Array(n * cache.indexDim).fill(value),
    })
    writeHostKvCacheArrays(cache, rows(3, 1), batchLayout(1, 3))
    writeHostKvCacheArrays(cache, rows(1, 2), batchLayout(1, 1, { startPos: 3 }))
    expect(cache.kv).toBe(kv)
    expect(Array.from(cache.kv.subarray(0, 3 * cache.kvWidth)).every((v) => v === 1)).toBe(true)
    expect(Array.from(cache.kv.subarray(3 * cache.kvWidth, 4 * cache.kvWidth)).every((v) => v === 2)).toBe(true)
    expect(Array.from(cache.kv.subarray(4 * cache.kvWidth)).every((v) => v === 0)).toBe(true)
    expect(cache.lengths).toEqual([4])
  })

  it("refuses a gap and a write past the capacity", () => {
    const cache = createHostKvCache(config, 1, { capacity: 4 })
    const rows = (n: number) => ({
      kv: new Float32Array(n * cache.kvWidth),
      indexKeys: new Float32Array(n * cache.indexDim),
    })
    expect(() => writeHostKvCacheArrays(cache, rows(1), batchLayout(1, 1, { startPos: 2 }))).toThrow(/gap/)
    expect(() => writeHostKvCacheArrays(cache, rows(5), batchLayout(1, 5))).toThrow(/capacity/)
  })
})

/** Dequantised key s of a packed 8-bit cache (sequence 0). */
const dequantizedKey = (cache: HostKvCache, s: number): Array<number> =>
  Array.from({ length: cache.indexDim }, (_, d) => {
    const byte = Math.floor(s / 16) * 16 * cache.indexDim + Math.floor(d / 4) * 64 + (s % 16) * 4 + (d % 4)
    return (cache.keys8[byte] as number) * (cache.keyScales[s] as number)
  })

/** Symmetric int8 of a row (round half to even, as the C side's nearbyintf), dequantised. */
const quantizeRow = (row: ArrayLike<number>): Array<number> => {
  const amax = Math.max(...Array.from(row, Math.abs))
  const scale = amax > 0 ? Math.fround(amax / 127) : 1
  const inverse = Math.fround(1 / scale)
  return Array.from(row, (v) => {
    const x = Math.fround(v * inverse)
    const r = Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x)
    return Math.max(-127, Math.min(127, r)) * scale
  })
}

describe("8-bit index keys", () => {
  itNative("dequantise to the float keys within half a quantisation step", () => {
    const dim = 12
    const cache = createHostKvCache({ ...config, index_head_dim: dim }, 1, { capacity: 37, indexKeyFormat: "int8" })
    expect(cache.keys8.length).toBe(packedKeyBytes(37, dim))
    const keys = Float32Array.from({ length: 37 * dim }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 5)))
    const layout = batchLayout(1, 37)
    writeHostKvCacheArrays(cache, { kv: new Float32Array(37 * cache.kvWidth), indexKeys: keys }, layout, native)
    for (let s = 0; s < 37; s++) {
      const row = keys.subarray(s * dim, (s + 1) * dim)
      const step = Math.max(...Array.from(row, Math.abs)) / 127
      const excess = allCloseExcess(dequantizedKey(cache, s), row, step / 2 + 1e-6, 1e-6)
      expect(excess).toBeLessThanOrEqual(0)
    }
  })

  /** A packed 8-bit cache of `keyCount` keys and random queries/weights for the 8-bit indexer. */
  const int8Case = (tokens: number, heads: number, dim: number, keyCount: number) => {
    const cache = createHostKvCache({ ...config, index_head_dim: dim }, 1, {
      capacity: keyCount,
      indexKeyFormat: "int8",
    })
    const keys = Float32Array.from({ length: keyCount * dim }, (_, i) => Math.cos(i * 0.91) * (1 + (i % 3)))
    writeHostKvCacheArrays(
      cache,
      { kv: new Float32Array(keyCount * cache.kvWidth), indexKeys: keys },
      batchLayout(1, keyCount),
      native,
    )
    const q = Float32Array.from({ length: tokens * heads * dim }, (_, i) => Math.sin(i * 0.37) * 2)
    const w = Float32Array.from({ length: tokens * heads }, (_, i) => 0.5 - (i % 4) * 0.3)
    const score = () => {
      const scores = new Float32Array(tokens * keyCount)
      native?.attentionIndexerScoresInt8({
        q,
        weights: w,
        keys8: cache.keys8,
        keyScales: cache.keyScales,
        tokens,
        heads,
        dim,
        keyCount,
        scores,
      })
      return scores
    }
    return { cache, q, w, score }
  }

  /** Σ_j w · ReLU(dequantised q · dequantised k), the formula the 8-bit kernels compute. */
  const int8Expected = (
    c: ReturnType<typeof int8Case>,
    tokens: number,
    heads: number,
    dim: number,
    keyCount: number,
  ) => {
    const expected = new Float32Array(tokens * keyCount)
    for (let t = 0; t < tokens; t++)
      for (let s = 0; s < keyCount; s++) {
        const k = dequantizedKey(c.cache, s)
        let total = 0
        for (let j = 0; j < heads; j++) {
          const qj = quantizeRow(c.q.subarray((t * heads + j) * dim, (t * heads + j + 1) * dim))
          const dot = qj.reduce((acc, v, d) => acc + v * (k[d] as number), 0)
          total += (c.w[t * heads + j] as number) * Math.max(dot, 0)
        }
        expected[t * keyCount + s] = total
      }
    return expected
  }

  itNative("score as the float formula over dequantised queries and keys, on every instruction path", () => {
    // 5 heads: one row group padded with zero rows; 16 heads: two full groups of 8.
    for (const heads of [5, 16]) {
      const [tokens, dim, keyCount] = [3, 16, 41]
      const c = int8Case(tokens, heads, dim, keyCount)
      const expected = int8Expected(c, tokens, heads, dim, keyCount)
      for (const isa of [undefined, "avx2", "scalar"]) {
        if (isa !== undefined) process.env.DS_ATTENTION_ISA = isa
        try {
          expect(allCloseExcess(c.score(), expected, 1e-5, 1e-4)).toBeLessThanOrEqual(0)
        } finally {
          delete process.env.DS_ATTENTION_ISA
        }
      }
    }
  })

  itNative("give the same scores on every instruction path (AVX-512 VNNI, AVX2, scalar), two threads included", () => {
    const { score } = int8Case(2, 11, 128, 16 * 200 + 5)
    const best = score()
    const paths = ["avx2", "scalar"].map((isa) => {
      process.env.DS_ATTENTION_ISA = isa
      try {
        expect(["avx2", "scalar"]).toContain(native?.attentionInfo().int8Indexer)
        if (isa === "scalar") expect(native?.attentionInfo().int8Indexer).toBe("scalar")
        return score()
      } finally {
        delete process.env.DS_ATTENTION_ISA
      }
    })
    for (const scores of paths) expect(allCloseExcess(scores, best, 1e-6, 1e-5)).toBeLessThanOrEqual(0)
  })

  itNative("keep the fused layer's selections close to the float ones (most selected sets identical)", () => {
    const run = (format: "float32" | "int8") => {
      const cache = createHostKvCache(config, 1, { capacity: 40, indexKeyFormat: format })
      return tf.tidy(() => {
        const x = tf.randomNormal([1, 40, config.dim], 0, 1, "float32", 9) as tf.Tensor3D
        return indexSets(dsaAttentionLayer(weights, config, x, { cache }).indices)
      })
    }
    const float = run("float32")
    const int8 = run("int8")
    const same = float.filter((set, i) => set === int8[i]).length
    expect(same / float.length).toBeGreaterThan(0.8)
  })
})
