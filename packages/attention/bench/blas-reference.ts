/**
 * The sgemm reference of the attention benchmark (issue 9 item 4): every matrix product the dense step does, run
 * as plain cblas_sgemm calls on the same shapes and the same kind of operands (strides, transposes), with nothing
 * in between — what the dense step could reach if its products were its only cost. Per product of T new tokens
 * over E = P + T keys (the full T × E rectangle, as BLAS computes it):
 *
 *   MQA mode (decode):  absorb_query   H × [T, nope] · W_UK[h] [nope, kv_lora]            (batched over heads)
 *                       scores         [T·H, W] · kv[:E]ᵀ [W, E]
 *                       values         [T·H, E] · kv[:E, :Dv] [E, Dv]                       (ldb = W)
 *                       absorb_output  H × [T, kv_lora] · W_UV[h]ᵀ [kv_lora, v]             (batched over heads)
 *   MHA mode (prefill): up_projection  [T, kv_lora] · Wkv_bᵀ [kv_lora, H·(nope + v)]
 *                       scores_nope    H × [T, nope] · k_nope[h]ᵀ [nope, E]                 (batched over heads)
 *                       scores_rope    H × [T, rope] · k_ropeᵀ [rope, E]                    (accumulated, β = 1)
 *                       values         H × [T, E] · v[h] [E, v]                             (batched over heads)
 *
 * blas GFLOP/s = Σ product FLOPs / Σ product time (multiply-adds count 2); a path's efficiency is its GFLOP/s over
 * that figure (docs/compute.md §7).
 */
import type { NativeAttentionKernels } from "../src/index.ts"
import type { PhaseSizes } from "./setup.ts"

/** One product's shape: `batch` sgemms of m × k by k × n. */
export interface BlasShape {
  readonly product: string
  readonly m: number
  readonly n: number
  readonly k: number
  readonly batch: number
}

export interface BlasProduct extends BlasShape {
  readonly run: () => void
}

export const shapeFlops = (s: BlasShape): number => 2 * s.batch * s.m * s.n * s.k

/** Offsets i · stride + start for i < count (one per head of a batched product). */
const offsets = (count: number, stride: number, start = 0): Uint32Array =>
  Uint32Array.from({ length: count }, (_, i) => start + i * stride)

/** The operands the reference multiplies (the bench's own caches and weights). */
export interface BlasOperands {
  readonly tokens: number
  readonly capacity: number
  /** [T, H, nope + rope] */
  readonly q: Float32Array
  /** [T, H, W] */
  readonly qAbs: Float32Array
  /** Latent cache [capacity, W]. */
  readonly kv: Float32Array
  /** Wkv_b [H · (nope + v), kv_lora]. */
  readonly wkvB: Float32Array
  /** [T, H, kv_lora] */
  readonly latent: Float32Array
  /** [T, H, v] */
  readonly output: Float32Array
  /** MHA caches: k_nope [H, capacity, nope], v [H, capacity, v], k_rope [capacity, rope]. */
  readonly mha?: { readonly keysNope: Float32Array; readonly values: Float32Array; readonly keysRope: Float32Array }
}

/** The absorbed-mode (MQA) products at E keys; logits: scratch of T·H·capacity floats. */
const mqaProducts = (
  native: NativeAttentionKernels,
  s: PhaseSizes,
  o: BlasOperands,
  logits: Float32Array,
  keys: number,
): Array<BlasProduct> => {
  const t = o.tokens
  const qk = s.nope + s.rope
  const perHead = (s.nope + s.valueHeadDim) * s.kvLora
  const rows = t * s.heads
  return [
    {
      product: "absorb_query",
      m: t,
      n: s.kvLora,
      k: s.nope,
      batch: s.heads,
      run: () =>
        native.sgemmBatched(
          false,
          false,
          t,
          s.kvLora,
          s.nope,
          1,
          o.q,
          offsets(s.heads, qk),
          s.heads * qk,
          o.wkvB,
          offsets(s.heads, perHead),
          s.kvLora,
          0,
          o.qAbs,
          offsets(s.heads, s.width),
          s.heads * s.width,
        ),
    },
    {
      product: "scores",
      m: rows,
      n: keys,
      k: s.width,
      batch: 1,
      run: () =>
        native.sgemm(
          false,
          true,
          rows,
          keys,
          s.width,
          s.scale,
          o.qAbs,
          0,
          s.width,
          o.kv,
          0,
          s.width,
          0,
          logits,
          0,
          keys,
        ),
    },
    {
      product: "values",
      m: rows,
      n: s.kvLora,
      k: keys,
      batch: 1,
      run: () =>
        native.sgemm(
          false,
          false,
          rows,
          s.kvLora,
          keys,
          1,
          logits,
          0,
          keys,
          o.kv,
          0,
          s.width,
          0,
          o.latent,
          0,
          s.kvLora,
        ),
    },
    {
      product: "absorb_output",
      m: t,
      n: s.valueHeadDim,
      k: s.kvLora,
      batch: s.heads,
      run: () =>
        native.sgemmBatched(
          false,
          true,
          t,
          s.valueHeadDim,
          s.kvLora,
          1,
          o.latent,
          offsets(s.heads, s.kvLora),
          s.heads * s.kvLora,
          o.wkvB,
          offsets(s.heads, perHead, s.nope * s.kvLora),
          s.kvLora,
          0,
          o.output,
          offsets(s.heads, s.valueHeadDim),
          s.heads * s.valueHeadDim,
        ),
    },
  ]
}

/** The MHA-mode products at E keys (position P = E − T); logits: scratch of T·capacity floats (shared by heads). */
const mhaProducts = (
  native: NativeAttentionKernels,
  s: PhaseSizes,
  o: BlasOperands,
  logits: Float32Array,
  keys: number,
  upProjected: Float32Array,
): Array<BlasProduct> => {
  const mha = o.mha
  if (mha === undefined) throw new Error("MHA products need the MHA caches")
  const t = o.tokens
  const qk = s.nope + s.rope
  const perKey = s.nope + s.valueHeadDim
  const shared = new Uint32Array(s.heads)
  const position = keys - t
  return [
    {
      product: "up_projection",
      m: t,
      n: s.heads * perKey,
      k: s.kvLora,
      batch: 1,
      run: () =>
        native.sgemm(
          false,
          true,
          t,
          s.heads * perKey,
          s.kvLora,
          1,
          o.kv,
          position * s.width,
          s.width,
          o.wkvB,
          0,
          s.kvLora,
          0,
          upProjected,
          0,
          s.heads * perKey,
        ),
    },
    {
      product: "scores_nope",
      m: t,
      n: keys,
      k: s.nope,
      batch: s.heads,
      run: () =>
        native.sgemmBatched(
          false,
          true,
          t,
          keys,
          s.nope,
          s.scale,
          o.q,
          offsets(s.heads, qk),
          s.heads * qk,
          mha.keysNope,
          offsets(s.heads, o.capacity * s.nope),
          s.nope,
          0,
          logits,
          shared,
          keys,
        ),
    },
    {
      product: "scores_rope",
      m: t,
      n: keys,
      k: s.rope,
      batch: s.heads,
      run: () =>
        native.sgemmBatched(
          false,
          true,
          t,
          keys,
          s.rope,
          s.scale,
          o.q,
          offsets(s.heads, qk, s.nope),
          s.heads * qk,
          mha.keysRope,
          shared,
          s.rope,
          1,
          logits,
          shared,
          keys,
        ),
    },
    {
      product: "values",
      m: t,
      n: s.valueHeadDim,
      k: keys,
      batch: s.heads,
      run: () =>
        native.sgemmBatched(
          false,
          false,
          t,
          s.valueHeadDim,
          keys,
          1,
          logits,
          shared,
          keys,
          mha.values,
          offsets(s.heads, o.capacity * s.valueHeadDim),
          s.valueHeadDim,
          0,
          o.output,
          offsets(s.heads, s.valueHeadDim),
          s.heads * s.valueHeadDim,
        ),
    },
  ]
}

/** The dense step's products at position P, for MQA (decode) or MHA (prefill) mode. */
export const blasReference = (native: NativeAttentionKernels, s: PhaseSizes, o: BlasOperands) => {
  const mode = o.mha === undefined ? "mqa" : "mha"
  const logits = new Float32Array(o.tokens * (mode === "mqa" ? s.heads : 1) * o.capacity)
  const upProjected = new Float32Array(mode === "mha" ? o.tokens * s.heads * (s.nope + s.valueHeadDim) : 0)
  return (position: number): ReadonlyArray<BlasProduct> => {
    const keys = position + o.tokens
    return mode === "mqa"
      ? mqaProducts(native, s, o, logits, keys)
      : mhaProducts(native, s, o, logits, keys, upProjected)
  }
}
