import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { computeAdvantages, unbiasedStd } from "../src/advantages.ts"

const rewards = [1, 0, 0, 1, 2, 2, 2, 2]

describe("group-relative advantages", () => {
  it("default (V3.2) is R minus the group mean, with no std division", () => {
    const a = computeAdvantages(rewards, { groupSize: 4 })
    expect([...a.advantages]).toEqual([0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0])
    expect(a.zeroStdFraction).toBe(0.5)
    expect(a.keptGroups).toEqual([0, 1])
  })

  it("group scaling divides by the unbiased group std + 1e-4", () => {
    const a = computeAdvantages(rewards, { groupSize: 4, scaleRewards: "group" })
    const std = Math.sqrt(1 / 3) // ((0.5² × 4) / 3)^½
    expect(a.advantages[0]).toBeCloseTo(0.5 / (std + 1e-4), 5)
    expect(a.advantages[1]).toBeCloseTo(-0.5 / (std + 1e-4), 5)
    expect(a.advantages[4]).toBe(0)
  })

  it("batch scaling centres per group and divides by the unbiased batch std", () => {
    const a = computeAdvantages(rewards, { groupSize: 4, scaleRewards: "batch" })
    const std = Math.sqrt(5.5 / 7) // mean 1.25, Σ(r − 1.25)² = 5.5
    expect(a.advantages[0]).toBeCloseTo(0.5 / (std + 1e-4), 5)
    expect(a.advantages[5]).toBe(0)
  })

  it("dropping zero-std groups keeps only groups with distinct rewards", () => {
    const a = computeAdvantages(rewards, { groupSize: 4, dropZeroStdGroups: true })
    expect(a.keptGroups).toEqual([0])
    expect(a.keptSamples).toEqual([0, 1, 2, 3])
    expect(a.zeroStdFraction).toBe(0.5)
  })

  it("rejects a batch that is not a whole number of groups", () => {
    expect(() => computeAdvantages([1, 2, 3], { groupSize: 2 })).toThrow(/multiple of groupSize/)
  })

  it("advantages of every group sum to zero (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 1, max: 4 }),
        (row, groups) => {
          const all = Array.from({ length: groups }, (_, g) => row.map((r) => r + g))
          const a = computeAdvantages(all.flat(), { groupSize: 3 })
          for (let g = 0; g < groups; g++) {
            const sum = (a.advantages[g * 3] ?? 0) + (a.advantages[g * 3 + 1] ?? 0) + (a.advantages[g * 3 + 2] ?? 0)
            expect(Math.abs(sum)).toBeLessThan(1e-4)
          }
        },
      ),
    )
  })

  it("unbiasedStd matches Bessel's formula", () => {
    expect(unbiasedStd([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 12)
    expect(unbiasedStd([7])).toBe(0)
  })
})
