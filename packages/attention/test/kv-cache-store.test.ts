/**
 * The layer KV cache over its in-place host store (docs/attention.md §11): writes land in the same preallocated
 * arrays (no new store per write, whatever the lengths), `kv` / `indexKeys` are copies of rows 0..E−1 made once
 * per write (on the first read after it), and `pickKvCacheRows` joins and splits batches by copying exactly the picked sequences' valid rows.
 */
import { InputError, initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import { kvEntryDim } from "../src/config.ts"
import { createKvCache, disposeKvCache, pickKvCacheRows, writeKvCache } from "../src/kv-cache.ts"
import { batchLayout } from "../src/layout.ts"
import { smallConfig } from "./helpers.ts"

const width = kvEntryDim(smallConfig)
const indexDim = smallConfig.index_head_dim

/** Rows whose every value names (sequence, position): 1000·b + position + 1. */
const rows = (batch: number, tokens: number, startPos: ReadonlyArray<number>) => {
  const values = (w: number) =>
    Float32Array.from({ length: batch * tokens * w }, (_, i) => {
      const b = Math.floor(i / (tokens * w))
      const t = Math.floor(i / w) % tokens
      return 1000 * b + (startPos[b] as number) + t + 1
    })
  return {
    kv: tf.tensor3d(values(width), [batch, tokens, width]),
    indexKeys: tf.tensor3d(values(indexDim), [batch, tokens, indexDim]),
  }
}

const write = (
  cache: ReturnType<typeof createKvCache>,
  tokens: number,
  startPos: Array<number>,
  valid?: Array<number>,
) => {
  const r = rows(cache.host.batch, tokens, startPos)
  writeKvCache(cache, r, batchLayout(cache.host.batch, tokens, { startPos, ...(valid ? { validLengths: valid } : {}) }))
  tf.dispose([r.kv, r.indexKeys])
}

beforeAll(async () => {
  await initBackend("wasm")
})

describe("the in-place KV cache", () => {
  it("uneven writes land in the same arrays; kv is a copy of rows 0..E−1, made once per write", () => {
    const cache = createKvCache(smallConfig, 2, 16)
    const store = cache.host.kv
    write(cache, 5, [0, 0], [5, 2])
    write(cache, 1, [5, 2])
    expect(cache.host.kv).toBe(store)
    expect(cache.lengths).toEqual([6, 3])
    const kv = cache.kv
    expect(cache.kv).toBe(kv) // no new copy without a write
    expect(kv.shape).toEqual([2, 6, width])
    const values = kv.arraySync() as Array<Array<Array<number>>>
    expect(values[0]?.map((row) => row[0])).toEqual([1, 2, 3, 4, 5, 6])
    expect(values[1]?.slice(0, 3).map((row) => row[0])).toEqual([1001, 1002, 1003])
    write(cache, 1, [6, 3])
    expect(cache.kv.shape).toEqual([2, 7, width]) // the next read copies again and frees the stale copy
    expect(kv.isDisposed).toBe(true)
    const before = tf.memory().numTensors
    disposeKvCache(cache)
    expect(tf.memory().numTensors).toBe(before - 2) // the kv and indexKeys copies
  })

  it("pickKvCacheRows joins and splits batches: the picked sequences' rows, E = the longest picked", () => {
    const a = createKvCache(smallConfig, 2, 16)
    const b = createKvCache(smallConfig, 1, 16)
    write(a, 7, [0, 0], [7, 3])
    write(b, 4, [0])
    const joined = pickKvCacheRows([
      [a, 1],
      [b, 0],
    ])
    expect(joined.lengths).toEqual([3, 4])
    expect(joined.host.extent).toBe(4)
    const kv = joined.kv.arraySync() as Array<Array<Array<number>>>
    expect(kv[0]?.slice(0, 3).map((row) => row[0])).toEqual([1001, 1002, 1003])
    expect(kv[1]?.map((row) => row[0])).toEqual([1, 2, 3, 4])
    const keys = joined.indexKeys.arraySync() as Array<Array<Array<number>>>
    expect(keys[1]?.map((row) => row[indexDim - 1])).toEqual([1, 2, 3, 4])
    expect(() => pickKvCacheRows([])).toThrow(InputError)
    for (const c of [a, b, joined]) disposeKvCache(c)
  })
})
