/**
 * The timed steps of the attention benchmark, over host arrays with the native kernels (C + OpenBLAS) — each
 * method at its best on this CPU. One step = the work one layer does for T new tokens at start position P
 * (E = P + T keys), from the projected queries and new cache rows to the per-head outputs o [T, H, v]:
 *
 *   dense, MQA mode (V3.1 decode):  write the new latent rows; absorb W_UK into the queries (attentionAbsorbQuery);
 *       dense attention over all E latent rows (attentionDenseMqa: per block of keys sgemm, online softmax, sgemm);
 *       absorb W_UV.
 *   dense, MHA mode (V3.1 prefill): write the new latent rows; up-project them with Wkv_b into the per-head key
 *       and value caches (the P cached tokens are up-projected already); attention per head over E keys
 *       (attentionDenseMha: per block of keys q·k_nope + q_rope·k_rope, online softmax, ·v).
 *   DSA, MQA mode (V3.2):  write the new latent rows and index keys (float32, or 8-bit: quantised here); absorb
 *       W_UK; index scores + exact top-k + sparse attention in one call (attentionDsa); absorb W_UV
 *       (attentionAbsorbOutput, the same call as the dense MQA step's).
 *
 * Not in a step (identical for both methods, measured separately as `projections`): the projections of the layer
 * input x (wq_a, wq_b, wkv_a, the indexer's wq_b, wk and weights_proj) and the output projection wo; norms and
 * RoPE (elementwise) are left out of both.
 */
import type { NativeAttentionKernels } from "../src/index.ts"
import { packedKeyBytes } from "../src/index.ts"
import { type BlasProduct, blasReference } from "./blas-reference.ts"
import { fillRandom, type PhaseSizes, randomArray } from "./setup.ts"

export type KeyFormat = "float32" | "int8"

export interface PhaseBench {
  readonly tokens: number
  /** The dense method's step at position P (MQA mode for decode, MHA mode for prefill). */
  readonly dense: (position: number) => void
  /** The DSA step at position P with index keys in the given format. */
  readonly dsa: (position: number, format: KeyFormat) => void
  /** FLOPs of one step (multiply-adds count 2). */
  readonly denseFlops: (position: number) => number
  readonly dsaFlops: (position: number) => number
  /** The x-projections and wo for the T tokens (shared by both methods). */
  readonly projections: () => void
  readonly projectionFlops: number
  /** The dense step's matrix products at position P as plain sgemm calls (blas-reference.ts). */
  readonly blasProducts: (position: number) => ReadonlyArray<BlasProduct>
}

/** Causal prefix of each new token: t attends to keys 0 .. P + t. */
const rowLengthsAt = (out: Int32Array, position: number): Int32Array => {
  for (let t = 0; t < out.length; t++) out[t] = position + t + 1
  return out
}

const sum = (n: number, f: (t: number) => number) =>
  Array.from({ length: n }, (_, t) => f(t)).reduce((a, b) => a + b, 0)

/** The absorbed-query and absorbed-output products of MQA mode (all heads in one native call each). */
const absorption = (native: NativeAttentionKernels, s: PhaseSizes, tokens: number, wkvB: Float32Array) => {
  const shape = {
    tokens,
    heads: s.heads,
    nope: s.nope,
    rope: s.rope,
    valueDim: s.valueHeadDim,
    kvLora: s.kvLora,
    wkvB,
  }
  return {
    /** qAbs[t, h] = [q_nope[t, h] · W_UK[h] ; q_rope[t, h]] from q [T, H, nope + rope]. */
    query: (q: Float32Array, qAbs: Float32Array) => native.attentionAbsorbQuery({ ...shape, q, output: qAbs }),
    /** o[t, h] = o_lat[t, h] · W_UV[h]ᵀ. */
    output: (latent: Float32Array, o: Float32Array) => native.attentionAbsorbOutput({ ...shape, latent, output: o }),
    flops: 2 * tokens * s.heads * s.kvLora * (s.nope + s.valueHeadDim),
  }
}

/** The x-projections and wo of T tokens as plain sgemms, sgemv for one token (weights in the reference [out, in] layout). */
const projectionStep = (native: NativeAttentionKernels, s: PhaseSizes, tokens: number, seed: number) => {
  const layers = [
    { input: "x", in: s.dim, out: s.qLora, output: "qr" },
    { input: "qr", in: s.qLora, out: s.heads * (s.nope + s.rope), output: "q" },
    { input: "x", in: s.dim, out: s.width, output: "kv" },
    { input: "qr", in: s.qLora, out: s.indexHeads * s.indexDim, output: "indexQ" },
    { input: "x", in: s.dim, out: s.indexDim, output: "indexK" },
    { input: "x", in: s.dim, out: s.indexHeads, output: "indexW" },
    { input: "o", in: s.heads * s.valueHeadDim, out: s.dim, output: "y" },
  ] as const
  const buffers = new Map<string, Float32Array>([
    ["x", randomArray(tokens * s.dim, seed)],
    ["o", randomArray(tokens * s.heads * s.valueHeadDim, seed + 1)],
  ])
  for (const l of layers) buffers.set(l.output, new Float32Array(tokens * l.out))
  const weights = layers.map((l, i) => fillRandom(new Float32Array(l.in * l.out), seed + 2 + i, 0.02))
  const sgemv = tokens === 1 ? native.sgemv : undefined
  return {
    run: () =>
      layers.forEach((l, i) => {
        const a = buffers.get(l.input) as Float32Array
        const c = buffers.get(l.output) as Float32Array
        // One token: y = W·x as sgemv (sgemm with one row packs the whole weight matrix on every call).
        if (sgemv !== undefined) {
          sgemv(false, l.out, l.in, 1, weights[i] as Float32Array, 0, l.in, a, 0, 0, c, 0)
          return
        }
        native.sgemm(
          false,
          true,
          tokens,
          l.out,
          l.in,
          1,
          a,
          0,
          l.in,
          weights[i] as Float32Array,
          0,
          l.in,
          0,
          c,
          0,
          l.out,
        )
      }),
    flops: 2 * tokens * layers.reduce((total, l) => total + l.in * l.out, 0),
  }
}

/**
 * Buffers and steps of one phase: T new tokens, caches for `capacity` keys, dense in `mode`.
 * Cache contents are random (uniform, unit-scale latents and keys), fixed for the whole run.
 */
export const phaseBench = (
  native: NativeAttentionKernels,
  s: PhaseSizes,
  tokens: number,
  capacity: number,
  mode: "mqa" | "mha",
): PhaseBench => {
  const qk = s.nope + s.rope
  const seed = tokens * 1000 + s.heads
  const kv = randomArray(capacity * s.width, seed)
  const indexKeys = randomArray(capacity * s.indexDim, seed + 1)
  const keys8 = new Int8Array(packedKeyBytes(capacity, s.indexDim))
  const keyScales = new Float32Array(capacity)
  native.attentionQuantizeKeys({ keys: indexKeys, rows: capacity, dim: s.indexDim, first: 0, keys8, keyScales })
  const wkvb = randomArray(s.heads * (s.nope + s.valueHeadDim) * s.kvLora, seed + 2, 0.05)
  const q = randomArray(tokens * s.heads * qk, seed + 3, 0.5)
  const newKv = randomArray(tokens * s.width, seed + 4)
  const indexQ = randomArray(tokens * s.indexHeads * s.indexDim, seed + 5)
  const indexWeights = randomArray(tokens * s.indexHeads, seed + 6)
  const newIndexKeys = randomArray(tokens * s.indexDim, seed + 7)
  const qAbs = new Float32Array(tokens * s.heads * s.width)
  const latent = new Float32Array(tokens * s.heads * s.kvLora)
  const o = new Float32Array(tokens * s.heads * s.valueHeadDim)
  const lse = new Float32Array(tokens * s.heads)
  const indices = new Int32Array(tokens * s.topk)
  const rowLengths = new Int32Array(tokens)
  const absorb = absorption(native, s, tokens, wkvb)
  const projections = projectionStep(native, s, tokens, seed + 8)

  const dsa = (position: number, format: KeyFormat) => {
    const keyCount = position + tokens
    kv.set(newKv, position * s.width)
    if (format === "float32") indexKeys.set(newIndexKeys, position * s.indexDim)
    else
      native.attentionQuantizeKeys({
        keys: newIndexKeys,
        rows: tokens,
        dim: s.indexDim,
        first: position,
        keys8,
        keyScales,
      })
    absorb.query(q, qAbs)
    native.attentionDsa({
      q: qAbs,
      indexQ,
      indexWeights,
      kv: kv.subarray(0, keyCount * s.width),
      ...(format === "float32"
        ? { indexKeys: indexKeys.subarray(0, keyCount * s.indexDim) }
        : {
            keys8: keys8.subarray(0, packedKeyBytes(keyCount, s.indexDim)),
            keyScales: keyScales.subarray(0, keyCount),
          }),
      rowLengths: rowLengthsAt(rowLengths, position),
      tokens,
      heads: s.heads,
      width: s.width,
      valueDim: s.kvLora,
      scale: s.scale,
      keyCount,
      indexHeads: s.indexHeads,
      indexDim: s.indexDim,
      topk: s.topk,
      output: latent,
      lse,
      indices: indices.subarray(0, tokens * Math.min(s.topk, keyCount)),
    })
    absorb.output(latent, o)
  }

  const denseMqa = (position: number) => {
    const keyCount = position + tokens
    kv.set(newKv, position * s.width)
    absorb.query(q, qAbs)
    native.attentionDenseMqa({
      q: qAbs,
      kv: kv.subarray(0, keyCount * s.width),
      rowLengths: rowLengthsAt(rowLengths, position),
      tokens,
      heads: s.heads,
      width: s.width,
      valueDim: s.kvLora,
      scale: s.scale,
      keyCount,
      output: latent,
      lse,
    })
    absorb.output(latent, o)
  }

  const mha = mode === "mha" ? mhaCaches(native, s, tokens, capacity, kv, wkvb) : undefined
  const denseMha = (position: number) => {
    if (mha === undefined) return
    kv.set(newKv, position * s.width)
    mha.append(position)
    native.attentionDenseMha({
      q,
      keysNope: mha.keysNope,
      values: mha.values,
      keysRope: mha.keysRope.subarray(0, (position + tokens) * s.rope),
      rowLengths: rowLengthsAt(rowLengths, position),
      tokens,
      heads: s.heads,
      nope: s.nope,
      rope: s.rope,
      valueDim: s.valueHeadDim,
      keyCount: position + tokens,
      keyStride: capacity,
      scale: s.scale,
      output: o,
      lse,
    })
  }

  const blasProducts = blasReference(native, s, {
    tokens,
    capacity,
    q,
    qAbs,
    kv,
    wkvB: wkvb,
    latent,
    output: o,
    ...(mha === undefined ? {} : { mha }),
  })

  const keysSeen = (position: number) => sum(tokens, (t) => position + t + 1)
  const attentionPerKey = 2 * s.heads * (s.width + s.kvLora)
  return {
    tokens,
    dense: mode === "mha" ? denseMha : denseMqa,
    dsa,
    denseFlops: (position) =>
      mode === "mha"
        ? 2 * tokens * s.kvLora * s.heads * (s.nope + s.valueHeadDim) +
          2 * s.heads * (qk + s.valueHeadDim) * keysSeen(position)
        : absorb.flops + attentionPerKey * keysSeen(position),
    dsaFlops: (position) =>
      absorb.flops +
      2 * s.indexHeads * s.indexDim * keysSeen(position) +
      attentionPerKey * sum(tokens, (t) => Math.min(s.topk, position + t + 1)),
    projections: projections.run,
    projectionFlops: projections.flops,
    blasProducts,
  }
}

/**
 * The MHA-mode caches of V3.1's prefill: per-head k_nope and v of every key, head-major [H, capacity, 128], and
 * k_rope [capacity, rope]; the cached tokens' entries are filled at setup ("already up-projected"), the new
 * tokens' entries by `append` (one sgemm with Wkv_b, then a scatter into the heads).
 */
const mhaCaches = (
  native: NativeAttentionKernels,
  s: PhaseSizes,
  tokens: number,
  capacity: number,
  kv: Float32Array,
  wkvb: Float32Array,
) => {
  const perKey = s.nope + s.valueHeadDim
  const keysNope = randomArray(s.heads * capacity * s.nope, 11, 0.5)
  const values = randomArray(s.heads * capacity * s.valueHeadDim, 12, 0.5)
  const keysRope = new Float32Array(capacity * s.rope)
  for (let key = 0; key < capacity; key++)
    keysRope.set(kv.subarray(key * s.width + s.kvLora, (key + 1) * s.width), key * s.rope)
  const upProjected = new Float32Array(tokens * s.heads * perKey)
  return {
    keysNope,
    values,
    keysRope,
    append: (position: number) => {
      native.sgemm(
        false,
        true,
        tokens,
        s.heads * perKey,
        s.kvLora,
        1,
        kv,
        position * s.width,
        s.width,
        wkvb,
        0,
        s.kvLora,
        0,
        upProjected,
        0,
        s.heads * perKey,
      )
      for (let t = 0; t < tokens; t++) {
        const key = position + t
        keysRope.set(kv.subarray(key * s.width + s.kvLora, (key + 1) * s.width), key * s.rope)
        for (let h = 0; h < s.heads; h++) {
          const from = (t * s.heads + h) * perKey
          keysNope.set(upProjected.subarray(from, from + s.nope), (h * capacity + key) * s.nope)
          values.set(upProjected.subarray(from + s.nope, from + perKey), (h * capacity + key) * s.valueHeadDim)
        }
      }
    },
  }
}
