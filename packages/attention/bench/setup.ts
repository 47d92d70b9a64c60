/**
 * Sizes and host buffers of the attention benchmark (the paper's Figure 3 on this machine, issue 3): one layer of
 * DeepSeek-V3.2 671B attention (docs/attention.md §2), batch 1, float32, caches preallocated for the longest position.
 */
import { totalmem } from "node:os"
import { type AttentionConfig, mlaSoftmaxScale } from "../src/index.ts"

/** The 671B per-layer attention sizes (reference ModelArgs names). */
export const config671B: AttentionConfig = {
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
  rope_theta: 10000,
  rope_factor: 40,
  original_seq_len: 4096,
  beta_fast: 32,
  beta_slow: 1,
  mscale: 1,
  max_seq_len: 163_840,
}

/** The sizes one phase runs at (heads and index heads possibly divided by `headDivisor`). */
export interface PhaseSizes {
  readonly heads: number
  readonly indexHeads: number
  readonly headDivisor: number
  readonly nope: number
  readonly rope: number
  readonly valueHeadDim: number
  readonly kvLora: number
  /** kv_lora + rope: one MQA cache row. */
  readonly width: number
  readonly indexDim: number
  readonly topk: number
  readonly dim: number
  readonly qLora: number
  readonly scale: number
}

export const phaseSizes = (config: AttentionConfig, headDivisor: number): PhaseSizes => ({
  heads: config.n_heads / headDivisor,
  indexHeads: config.index_n_heads / headDivisor,
  headDivisor,
  nope: config.qk_nope_head_dim,
  rope: config.qk_rope_head_dim,
  valueHeadDim: config.v_head_dim,
  kvLora: config.kv_lora_rank,
  width: config.kv_lora_rank + config.qk_rope_head_dim,
  indexDim: config.index_head_dim,
  topk: config.index_topk,
  dim: config.dim,
  qLora: config.q_lora_rank,
  scale: mlaSoftmaxScale(config),
})

/** Bytes of the MHA-mode cache (per-head k_nope and v for every key) at `keys` keys. */
export const mhaCacheBytes = (config: AttentionConfig, keys: number, headDivisor: number): number =>
  keys * (config.n_heads / headDivisor) * (config.qk_nope_head_dim + config.v_head_dim) * 4

/**
 * The smallest power-of-two divisor of the heads (and index heads) whose up-projected MHA cache at `keys` keys
 * fits in a quarter of this machine's memory (the machine is shared; the rest holds the other buffers).
 */
export const headDivisorFor = (config: AttentionConfig, keys: number, memory = totalmem()): number => {
  let divisor = 1
  while (mhaCacheBytes(config, keys, divisor) > memory / 4 && divisor < config.index_n_heads) divisor *= 2
  return divisor
}

/** Fills `out` with uniform values in [−amplitude, amplitude) from a fast seeded generator (xorshift32). */
export const fillRandom = (out: Float32Array, seed: number, amplitude = 1): Float32Array => {
  let state = (seed * 2654435761) >>> 0 || 1
  const step = (2 * amplitude) / 2 ** 32
  for (let i = 0; i < out.length; i++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    out[i] = (state >>> 0) * step - amplitude
  }
  return out
}

/** A random array of `length` floats. */
export const randomArray = (length: number, seed: number, amplitude = 1): Float32Array =>
  fillRandom(new Float32Array(length), seed, amplitude)
