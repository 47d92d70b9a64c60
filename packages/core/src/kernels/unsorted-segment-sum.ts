/**
 * UnsortedSegmentSum in one pass (the gradient of every gather: embeddings, MoE dispatch, KV gathers).
 *
 *   out[s, ...] = Σ_{p : ids[p] = s} x[p, ...]        x: [...idsShape, ...inner], ids: idsShape, out: [S, ...inner]
 *
 * Ids outside [0, S) are dropped (TensorFlow's rule). O(x.size) time. tfjs-backend-wasm has no such kernel (so
 * every gather gradient throws there) and the stock cpu one is O(S · x.size): an embedding gradient took 75 s
 * instead of 0.12 s (docs/compute.md §3). Sums accumulate in the output dtype (float32 or int32), like stock.
 */
import type * as tf from "@tensorflow/tfjs"
import { ShapeError } from "../errors.ts"
import { backendIO } from "./backend-io.ts"
import type { FastBackendName } from "./registry.ts"

const size = (shape: ReadonlyArray<number>) => shape.reduce((p, d) => p * d, 1)

/** The UnsortedSegmentSum kernel function for `backendName`. */
export const unsortedSegmentSumKernel =
  (backendName: FastBackendName): tf.KernelFunc =>
  ({ inputs, backend, attrs }) => {
    const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo }
    const numSegments = (attrs as { numSegments: number }).numSegments
    const idsShape = segmentIds.shape
    if (idsShape.length > x.shape.length || idsShape.some((d, i) => d !== x.shape[i])) {
      throw new ShapeError({
        argument: "unsortedSegmentSum segmentIds",
        expected: `a prefix of x's shape [${x.shape}]`,
        actual: `[${idsShape}]`,
      })
    }
    const inner = x.shape.slice(idsShape.length)
    const io = backendIO(backendName, backend)
    const out = io.alloc([numSegments, ...inner], x.dtype)
    const rows = size(idsShape)
    const width = size(inner)
    if (rows === 0 || width === 0 || numSegments === 0) return out
    const target = io.view(out)
    const source = io.view(x)
    const ids = io.view(segmentIds)
    for (let p = 0; p < rows; p++) {
      const s = ids[p] as number
      if (!(s >= 0 && s < numSegments)) continue
      const from = p * width
      const to = s * width
      for (let j = 0; j < width; j++) target[to + j] = (target[to + j] as number) + (source[from + j] as number)
    }
    return out
  }
