import { describe, expect, it } from "vitest"
import {
  enhancedVerifierReward,
  generatorReward,
  metaVerifierReward,
  type ParseResult,
  type Score,
  verifierReward,
} from "../src/index.ts"

const ok = (score: Score): ParseResult => ({ score, format_ok: true, error: null })
const bad = (score: Score | null): ParseResult => ({ score, format_ok: false, error: "missing phrase" })

describe("generator reward R = R_format · (0.76 · s + 0.24 · (1 − |s' − s|) · ms)", () => {
  it.each([
    ["correct proof, claims 1", 1, 1, 1.0],
    ["correct proof, claims 0", 1, 0, 0.76],
    ["half-correct proof, claims 0.5", 0.5, 0.5, 0.62],
    ["half-correct proof, claims 1", 0.5, 1, 0.5],
    ["wrong proof, admits 0", 0, 0, 0.24],
    ["wrong proof, claims 1", 0, 1, 0.0],
  ] as const)("the paper's worked value: %s -> %d", (_, proofScore, selfScore, expected) => {
    expect(generatorReward({ parse: ok(selfScore), proofScore, metaScore: 1 })).toBeCloseTo(expected, 12)
  })

  it("honest failure beats a false claim, and the meta score scales only the self-evaluation term", () => {
    expect(generatorReward({ parse: ok(0), proofScore: 0 })).toBeGreaterThan(
      generatorReward({ parse: ok(1), proofScore: 0 }),
    )
    expect(generatorReward({ parse: ok(1), proofScore: 1, metaScore: 0.5 })).toBeCloseTo(0.76 + 0.24 * 0.5, 12)
  })

  it("a format failure earns 0 whatever the proof score", () => {
    expect(generatorReward({ parse: bad(1), proofScore: 1 })).toBe(0)
    expect(generatorReward({ parse: bad(null), proofScore: 1 })).toBe(0)
  })

  it("alpha and beta are configurable", () => {
    expect(generatorReward({ parse: ok(0), proofScore: 0 }, { alpha: 0.5, beta: 0.5 })).toBe(0.5)
  })
})

describe("verifier rewards", () => {
  it("R_format · (1 − |s' − s|)", () => {
    expect(verifierReward(ok(1), 1)).toBe(1)
    expect(verifierReward(ok(0.5), 1)).toBe(0.5)
    expect(verifierReward(ok(0), 1)).toBe(0)
    expect(verifierReward(bad(1), 1)).toBe(0)
    expect(metaVerifierReward(ok(0.5), 0)).toBe(0.5)
  })

  it("the enhanced verifier multiplies by the meta-verifier's quality score", () => {
    expect(enhancedVerifierReward(ok(0.5), 0.5, 0.5)).toBe(0.5)
    expect(enhancedVerifierReward(ok(0), 0.5, 1)).toBe(0.5)
    expect(enhancedVerifierReward(bad(0.5), 0.5, 1)).toBe(0)
  })
})
