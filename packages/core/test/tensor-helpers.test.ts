/**
 * The shared tensor helpers: `linear` is x · Wᵀ over the last axis, `stopGradient` is the identity in value with no
 * gradient and no host read, `nonDifferentiable` passes zero gradients, and every shape check names the argument.
 */
import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import {
  expectDtype,
  expectRank,
  expectShape,
  initBackend,
  linear,
  nonDifferentiable,
  ShapeError,
  stopGradient,
} from "../src/index.ts"

beforeAll(async () => {
  await initBackend("wasm")
})

const values = (t: tf.Tensor) => Array.from(t.dataSync())

describe("linear", () => {
  it("is x · Wᵀ over the last axis, leading axes kept", () => {
    tf.tidy(() => {
      const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3])
      const w = tf.tensor2d([1, 0, 0, 0, 1, 1], [2, 3]) // y0 = x0, y1 = x1 + x2
      const y = linear(x, w)
      expect(y.shape).toEqual([2, 2, 2])
      expect(values(y)).toEqual([1, 5, 4, 11, 7, 17, 10, 23])
    })
  })

  it("names the weight when it is not [out, in]", () => {
    tf.tidy(() => {
      const call = () => linear(tf.zeros([2, 3]), tf.zeros([3, 2]), "wq_a")
      expect(call).toThrow(ShapeError)
      expect(call).toThrow("wq_a: expected [out, 3], got [3, 2]")
    })
  })
})

describe("stopGradient", () => {
  it("has the value of its input and shares its data buffer (no copy)", () => {
    tf.tidy(() => {
      const x = tf.tensor1d([1.5, -2, 3])
      const y = stopGradient(x)
      expect(y.dataId).toBe(x.dataId)
      expect(y.shape).toEqual(x.shape)
      expect(values(y)).toEqual([1.5, -2, 3])
    })
  })

  it("reads nothing back to the host", () => {
    tf.tidy(() => {
      const x = tf.tensor1d([1, 2, 3])
      const backend = tf.engine().backend
      const reads = { count: 0 }
      const readSync = backend.readSync.bind(backend)
      const read = backend.read.bind(backend)
      backend.readSync = (dataId: object) => {
        reads.count += 1
        return readSync(dataId)
      }
      backend.read = (dataId: object) => {
        reads.count += 1
        return read(dataId)
      }
      try {
        stopGradient(x)
      } finally {
        backend.readSync = readSync
        backend.read = read
      }
      expect(reads.count).toBe(0)
    })
  })

  it("sends no gradient: d/dx [x · stopGradient(x)] = stopGradient(x) = x, not 2x", () => {
    tf.tidy(() => {
      const x = tf.tensor1d([1, -2, 3])
      const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, stopGradient(v))))(x)
      expect(values(grad)).toEqual([1, -2, 3])
    })
  })

  it("cuts comparisons off the backward pass (a 0/1 gate from a detached value needs no gradient)", () => {
    tf.tidy(() => {
      const x = tf.tensor1d([1, -2, 3])
      const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, tf.cast(tf.greater(stopGradient(v), 0), "float32"))))(x)
      expect(values(grad)).toEqual([1, 0, 1])
    })
  })

  it("either tensor can be disposed first; the other keeps its values and no tensor leaks", () => {
    const before = tf.memory().numTensors
    const x = tf.tensor1d([4, 5])
    const y = stopGradient(x)
    x.dispose()
    expect(values(y)).toEqual([4, 5])
    y.dispose()
    const z = tf.tensor1d([6])
    stopGradient(z).dispose()
    expect(values(z)).toEqual([6])
    z.dispose()
    expect(tf.memory().numTensors).toBe(before)
  })
})

describe("nonDifferentiable", () => {
  it("returns f's value and a zero gradient into every input", () => {
    tf.tidy(() => {
      const a = tf.tensor1d([1, 2])
      const b = tf.tensor1d([3, 4])
      const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
        tf.sum(nonDifferentiable((p, q) => tf.mul(p as tf.Tensor, q as tf.Tensor), x, y)),
      )([a, b])
      expect(values(ga as tf.Tensor)).toEqual([0, 0])
      expect(values(gb as tf.Tensor)).toEqual([0, 0])
    })
  })
})

describe("shape checks name the argument", () => {
  it("expectShape: exact sizes, null for any size, rank mismatch", () => {
    tf.tidy(() => {
      const t = tf.zeros([2, 3])
      expect(() => expectShape("q", t, [2, null])).not.toThrow()
      expect(() => expectShape("q", t, [2, 4])).toThrow("q: expected [2, 4], got [2, 3]")
      expect(() => expectShape("kv", t, [null, 3, 1])).toThrow("kv: expected [?, 3, 1], got [2, 3]")
      const error = (() => {
        try {
          expectShape("indices", t, [3, 3])
        } catch (e) {
          return e
        }
      })()
      expect(error).toBeInstanceOf(ShapeError)
      expect(error).toMatchObject({ _tag: "ShapeError", argument: "indices", expected: "[3, 3]", actual: "[2, 3]" })
    })
  })

  it("expectRank returns the shape; expectDtype names the dtype", () => {
    tf.tidy(() => {
      const t = tf.zeros([2, 3], "int32")
      expect(expectRank("mask", t, 2)).toEqual([2, 3])
      expect(() => expectRank("mask", t, 3)).toThrow("mask: expected rank 3, got [2, 3]")
      expect(() => expectDtype("mask", t, "float32")).toThrow("mask: expected dtype float32, got dtype int32")
    })
  })
})
