import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { InputError } from "../src/errors.ts"
import { philox4x32 } from "../src/rng/philox.ts"
import { Rng } from "../src/rng/rng.ts"

const mean = (xs: ArrayLike<number>): number => {
  let sum = 0
  for (let i = 0; i < xs.length; i++) sum += xs[i] as number
  return sum / xs.length
}

const variance = (xs: ArrayLike<number>): number => {
  const m = mean(xs)
  let sum = 0
  for (let i = 0; i < xs.length; i++) sum += ((xs[i] as number) - m) ** 2
  return sum / (xs.length - 1)
}

describe("Philox4x32-10", () => {
  // Random123 tests/kat_vectors, the three "philox4x32 10" lines: counter[4] key[2] -> output[4].
  const vectors: ReadonlyArray<readonly [[number, number, number, number], [number, number], ReadonlyArray<number>]> = [
    [
      [0, 0, 0, 0],
      [0, 0],
      [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ],
    [
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0xffffffff, 0xffffffff],
      [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ],
    [
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      [0xa4093822, 0x299f31d0],
      [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ],
  ]

  it("matches Random123's known-answer vectors", () => {
    for (const [counter, key, expected] of vectors) expect(Array.from(philox4x32(counter, key))).toEqual(expected)
  })

  it("word p of the stream of seed s is word p mod 4 of Philox([p/4, 0, 0, 0], [s lo, s hi])", () => {
    const seed = 0x1_2345_6789
    const rng = Rng.make(seed)
    rng.words(6)
    const next = rng.words(6) // positions 6..11: lanes 2, 3 of block 1, then block 2
    const block1 = philox4x32([1, 0, 0, 0], [0x2345_6789, 1])
    const block2 = philox4x32([2, 0, 0, 0], [0x2345_6789, 1])
    expect(Array.from(next)).toEqual([block1[2], block1[3], ...block2])
  })

  it("addresses blocks beyond 2^32 with the second counter word", () => {
    const position = 4 * 2 ** 32 + 8 // block 2^32 + 2
    const words = Rng.fromState({ key: [5, 0], position }).words(4)
    expect(Array.from(words)).toEqual(Array.from(philox4x32([2, 1, 0, 0], [5, 0])))
  })
})

describe("Rng streams", () => {
  it("the same seed gives the same stream", () => {
    expect(Rng.make(42).uniform(1000)).toEqual(Rng.make(42).uniform(1000))
    expect(Rng.make(42).normal(999)).toEqual(Rng.make(42).normal(999))
  })

  it("different seeds give different streams", () => {
    expect(Rng.make(1).words(64)).not.toEqual(Rng.make(2).words(64))
  })

  it("draws cut one stream in order: two draws equal one draw of their total length", () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 }), fc.nat({ max: 37 }), fc.nat({ max: 37 }), (seed, a, b) => {
        const split = Rng.make(seed)
        const whole = Rng.make(seed).words(a + b)
        expect([...split.words(a), ...split.words(b)]).toEqual(Array.from(whole))
        expect(split.position).toBe(a + b)
      }),
    )
  })

  it("forks are independent of one another and of the parent", () => {
    const parent = Rng.make(7)
    const streams = [parent, parent.fork(0), parent.fork(1), parent.fork("0"), parent.fork("init"), parent.fork("")]
    const firsts = streams.map((rng) => Array.from(rng.words(8)).join(","))
    expect(new Set(firsts).size).toBe(streams.length)
  })

  it("a fork depends on the parent's key and the name only, not on how much the parent has drawn", () => {
    const fresh = Rng.make(7)
    const used = Rng.make(7)
    used.normal(123)
    expect(used.fork("data").words(16)).toEqual(fresh.fork("data").words(16))
    expect(used.fork(3).words(16)).toEqual(fresh.fork(3).words(16))
  })

  it("distinct labels give distinct child keys", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), (a, b) => {
        fc.pre(a !== b)
        const parent = Rng.make(11)
        expect(parent.fork(a).key).not.toEqual(parent.fork(b).key)
      }),
    )
  })

  it("state() round trip, through JSON, resumes the stream exactly", () => {
    const rng = Rng.make(2024).fork("trainer")
    rng.uniform(5)
    rng.normal(3)
    rng.int(0, 10)
    const resumed = Rng.fromState(JSON.parse(JSON.stringify(rng.state())))
    expect(resumed.position).toBe(rng.position)
    expect(resumed.normal(17)).toEqual(rng.normal(17))
    expect(resumed.shuffle([1, 2, 3, 4, 5, 6])).toEqual(rng.shuffle([1, 2, 3, 4, 5, 6]))
  })

  it("rejects bad seeds and malformed states with InputError", () => {
    expect(() => Rng.make(-1)).toThrow(InputError)
    expect(() => Rng.make(1.5)).toThrow(InputError)
    expect(() => Rng.fromState({ key: [1, 2 ** 32], position: 0 })).toThrow(InputError)
    expect(() => Rng.fromState({ key: [1, 2], position: -4 })).toThrow(InputError)
    expect(() => Rng.fromState("seed 3")).toThrow(InputError)
  })
})

describe("Rng distributions", () => {
  const n = 100_000

  it("uniform lies in [0, 1) with mean 1/2 and variance 1/12 (5σ bounds, n = 1e5)", () => {
    const u = Rng.make(1).uniform(n)
    expect(u.every((x) => x >= 0 && x < 1)).toBe(true)
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n))
    expect(Math.abs(variance(u) - 1 / 12)).toBeLessThan(5 * Math.sqrt((1 / 80 - 1 / 144) / n))
  })

  it("normal has the requested mean and std, and 68.27% of its mass within one std (5σ bounds, n = 1e5)", () => {
    const z = Rng.make(2).normal(n, 3, 2)
    expect(Math.abs(mean(z) - 3)).toBeLessThan((5 * 2) / Math.sqrt(n))
    expect(Math.abs(Math.sqrt(variance(z)) - 2)).toBeLessThan((5 * 2) / Math.sqrt(2 * n))
    const within = z.filter((x) => Math.abs(x - 3) < 2).length / n
    expect(Math.abs(within - 0.682689)).toBeLessThan(5 * Math.sqrt((0.682689 * 0.317311) / n))
  })

  it("an odd-length normal draw is the even draw without its last value", () => {
    expect(Array.from(Rng.make(9).normal(7))).toEqual(Array.from(Rng.make(9).normal(8).subarray(0, 7)))
  })

  it("int(lo, hi) stays in [lo, hi) and hits every value about equally often (chi-square, 9 dof)", () => {
    const rng = Rng.make(3)
    const counts = new Array<number>(10).fill(0)
    for (let i = 0; i < 20_000; i++) {
      const k = rng.int(-5, 5)
      expect(k >= -5 && k < 5).toBe(true)
      counts[k + 5] = (counts[k + 5] as number) + 1
    }
    const expected = 2000
    const chiSquare = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0)
    expect(chiSquare).toBeLessThan(27.88) // p = 0.001
  })

  it("int covers ranges up to 2^32 and rejects empty or larger ones", () => {
    const rng = Rng.make(4)
    const k = rng.int(0, 2 ** 32)
    expect(Number.isInteger(k) && k >= 0 && k < 2 ** 32).toBe(true)
    expect(() => rng.int(3, 3)).toThrow(InputError)
    expect(() => rng.int(0, 2 ** 32 + 1)).toThrow(InputError)
  })

  it("shuffle returns a permutation of its input and leaves the input unchanged", () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), fc.nat(), (items, seed) => {
        const before = items.slice()
        const shuffled = Rng.make(seed).shuffle(items)
        expect(items).toEqual(before)
        expect([...shuffled].sort((a, b) => a - b)).toEqual([...items].sort((a, b) => a - b))
      }),
    )
  })

  it("permutation(n) contains each of 0..n-1 once", () => {
    fc.assert(
      fc.property(fc.nat({ max: 200 }), fc.nat(), (size, seed) => {
        const p = Array.from(Rng.make(seed).permutation(size)).sort((a, b) => a - b)
        expect(p).toEqual(Array.from({ length: size }, (_, i) => i))
      }),
    )
  })

  it("shuffle puts each element first about equally often", () => {
    const rng = Rng.make(5)
    const firsts = new Array<number>(4).fill(0)
    for (let i = 0; i < 8000; i++) {
      const first = rng.shuffle([0, 1, 2, 3])[0] as number
      firsts[first] = (firsts[first] as number) + 1
    }
    const chiSquare = firsts.reduce((sum, c) => sum + (c - 2000) ** 2 / 2000, 0)
    expect(chiSquare).toBeLessThan(16.27) // 3 dof, p = 0.001
  })

  it("choice returns an element of the array, and rejects an empty one", () => {
    const rng = Rng.make(6)
    const items = ["a", "b", "c"]
    for (let i = 0; i < 50; i++) expect(items).toContain(rng.choice(items))
    expect(() => rng.choice([])).toThrow(InputError)
  })

  it("categorical draws in proportion to the weights and never picks a zero weight", () => {
    const rng = Rng.make(8)
    const weights = [0, 1, 0, 3, 0]
    const counts = new Array<number>(5).fill(0)
    for (let i = 0; i < 40_000; i++) {
      const k = rng.categorical(weights)
      counts[k] = (counts[k] as number) + 1
    }
    expect([counts[0], counts[2], counts[4]]).toEqual([0, 0, 0])
    const share = (counts[3] as number) / 40_000
    expect(Math.abs(share - 0.75)).toBeLessThan(5 * Math.sqrt((0.75 * 0.25) / 40_000))
    expect(() => rng.categorical([0, 0])).toThrow(InputError)
    expect(() => rng.categorical([1, -1])).toThrow(InputError)
    expect(() => rng.categorical([1, Number.NaN])).toThrow(InputError)
  })

  it("float gives doubles in [0, 1) with 53-bit resolution", () => {
    const rng = Rng.make(10)
    const xs = Array.from({ length: 1000 }, () => rng.float())
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
    // A 24-bit float32 grid would make every x · 2^24 an integer.
    expect(xs.some((x) => !Number.isInteger(x * 2 ** 24))).toBe(true)
  })
})
