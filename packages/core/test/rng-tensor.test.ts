import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import { initBackend } from "../src/backend/backend.ts"
import { InputError, ShapeError } from "../src/errors.ts"
import { Rng } from "../src/rng/rng.ts"
import { randomNormalTensor, randomUniformTensor } from "../src/rng/tensor.ts"

beforeAll(async () => {
  await initBackend("cpu")
})

describe("random tensors from the seeded RNG", () => {
  it("randomNormalTensor holds exactly the host draws of the same seed, in the requested shape", () => {
    const tensor = randomNormalTensor(Rng.make(12).fork("w"), [3, 5, 2], 0.02, 1)
    expect(tensor.shape).toEqual([3, 5, 2])
    expect(tensor.dtype).toBe("float32")
    expect(tensor.dataSync()).toEqual(Rng.make(12).fork("w").normal(30, 1, 0.02))
    tensor.dispose()
  })

  it("randomUniformTensor holds lo + (hi - lo) · u of the host draws, all in [lo, hi)", () => {
    const tensor = randomUniformTensor(Rng.make(13), [4, 7], -0.5, 0.5)
    const expected = Array.from(Rng.make(13).uniform(28), (u) => Math.fround(-0.5 + u))
    const values = Array.from(tensor.dataSync())
    expect(values).toEqual(expected)
    expect(values.every((v) => v >= -0.5 && v < 0.5)).toBe(true)
    tensor.dispose()
  })

  it("advances the generator, so two draws give different tensors", () => {
    const rng = Rng.make(14)
    const [a, b] = [randomNormalTensor(rng, [16]), randomNormalTensor(rng, [16])]
    expect(a.dataSync()).not.toEqual(b.dataSync())
    expect(rng.position).toBe(32)
    tf.dispose([a, b])
  })

  it("rejects bad shapes with ShapeError and an empty range with InputError", () => {
    expect(() => randomNormalTensor(Rng.make(1), [2, -1])).toThrow(ShapeError)
    expect(() => randomNormalTensor(Rng.make(1), [2.5])).toThrow(ShapeError)
    expect(() => randomUniformTensor(Rng.make(1), [2], 1, 1)).toThrow(InputError)
  })
})
