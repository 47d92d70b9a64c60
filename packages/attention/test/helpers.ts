/**
 * Shared test helpers: a small attention config, seeded random tensors and closeness checks.
 */
import type * as tf from "@tensorflow/tfjs"
import { expect } from "vitest"
import type { AttentionConfig } from "../src/index.ts"

/** A small config with every dimension distinct, so a transposed axis cannot go unnoticed. */
export const smallConfig: AttentionConfig = {
  dim: 24,
  n_heads: 3,
  q_lora_rank: 10,
  kv_lora_rank: 12,
  qk_nope_head_dim: 6,
  qk_rope_head_dim: 4,
  v_head_dim: 5,
  index_n_heads: 2,
  index_head_dim: 8,
  index_topk: 4,
  rope_theta: 10000,
  rope_factor: 40,
  original_seq_len: 4096,
  beta_fast: 32,
  beta_slow: 1,
  mscale: 1,
  max_seq_len: 64,
}

/** Largest |a − b| − (atol + rtol·|b|) over all elements: ≤ 0 means allclose(a, b, rtol, atol). */
export const allCloseExcess = (
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): number => {
  expect(actual.length).toBe(expected.length)
  let worst = Number.NEGATIVE_INFINITY
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number
    const b = expected[i] as number
    const excess = a === b ? -atol : Math.abs(a - b) - (atol + rtol * Math.abs(b))
    if (Number.isNaN(excess)) return Number.POSITIVE_INFINITY
    worst = Math.max(worst, excess)
  }
  return worst
}

/** Asserts allclose(actual, expected) with the given tolerances, reporting the worst element. */
export const expectClose = (actual: tf.Tensor, expected: tf.Tensor, atol = 1e-5, rtol = 1e-5): void => {
  expect(actual.shape).toEqual(expected.shape)
  const excess = allCloseExcess(actual.dataSync(), expected.dataSync(), atol, rtol)
  expect(excess, `max |a-b| exceeds atol ${atol} + rtol ${rtol}·|b| by ${excess}`).toBeLessThanOrEqual(0)
}

/** Sorted non-negative entries of each row of an int32 [..., K] index tensor (sets, as strings). */
export const indexSets = (indices: tf.Tensor): Array<string> => {
  const k = indices.shape[indices.rank - 1] as number
  const values = Array.from(indices.dataSync())
  const rows: Array<string> = []
  for (let r = 0; r < values.length / k; r++) {
    rows.push(
      values
        .slice(r * k, (r + 1) * k)
        .filter((v) => v >= 0)
        .sort((a, b) => a - b)
        .join(","),
    )
  }
  return rows
}
