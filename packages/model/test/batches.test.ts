import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { toPackedTokenBatch, toTokenBatch } from "../src/training/batches.ts"

const exampleArb = fc.record({
  prompt: fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 5 }),
  completion: fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 5 }),
})

/** (input, target) pairs that carry a target, per row. */
const supervised = (b: ReturnType<typeof toTokenBatch>) =>
  Array.from({ length: b.batch }, (_, r) =>
    Array.from(
      { length: b.length },
      (_, t) => [b.inputs[r * b.length + t], b.targets[r * b.length + t]] as const,
    ).filter(([, y]) => (y as number) >= 0),
  )

describe("token batches", () => {
  it("targets are the next token on completion positions only (SFT), −1 elsewhere", () => {
    const batch = toTokenBatch([{ prompt: [1, 2, 3], completion: [4, 5] }], 6)
    expect([...batch.inputs]).toEqual([1, 2, 3, 4, 0, 0])
    expect([...batch.targets]).toEqual([-1, -1, 4, 5, -1, -1])
    expect(batch.validLengths).toEqual([4])
  })

  it("packing keeps every example's supervised pairs and wastes fewer rows", () => {
    fc.assert(
      fc.property(fc.array(exampleArb, { minLength: 1, maxLength: 12 }), (examples) => {
        const packed = toPackedTokenBatch(examples, 15)
        const plain = toTokenBatch(examples, 15)
        expect(packed.batch).toBeLessThanOrEqual(plain.batch)
        const count = (b: ReturnType<typeof toTokenBatch>) => supervised(b).flat().length
        expect(count(packed)).toBe(count(plain))
        const completionTokens = examples.reduce((n, e) => n + e.completion.length, 0)
        expect(count(plain)).toBe(completionTokens)
      }),
      { numRuns: 100 },
    )
  })
})
