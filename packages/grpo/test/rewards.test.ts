import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { bareNumberFormat, boxedAnswerFormat, formatReward } from "../src/rewards/format.ts"
import { lengthPenaltyReward, overlongPenalty } from "../src/rewards/length-penalty.ts"
import { extractNumericAnswer, numericAnswerReward } from "../src/rewards/numeric-answer.ts"
import {
  type RewardFunction,
  rewardFunctionStats,
  type ScoredSample,
  scoreRewards,
} from "../src/rewards/reward-function.ts"

const sample = (completion: string, metadata: Record<string, unknown> = {}, tokens = 3): ScoredSample => ({
  prompt: "2+3=",
  completion,
  completionTokens: Array.from({ length: tokens }, () => 1),
  truncated: false,
  metadata,
})

describe("built-in rewards", () => {
  it("extracts the answer from \\boxed{}, then an answer marker, then the last number", () => {
    expect(extractNumericAnswer("so 3+4 = \\boxed{7} and 9")).toBe(7)
    expect(extractNumericAnswer("we get 12. Answer: 1,234 (checked 5)")).toBe(1234)
    expect(extractNumericAnswer("first 3 then -4.5")).toBe(-4.5)
    expect(extractNumericAnswer("no digits")).toBeNull()
  })

  it("numeric answer: 1 when equal, 0 when wrong or absent, skip without a reference", () => {
    const fn = numericAnswerReward()
    expect(fn.score(sample("5", { answer: 5 }))).toBe(1)
    expect(fn.score(sample("5.0000000001", { answer: "5" }))).toBe(1)
    expect(fn.score(sample("6", { answer: 5 }))).toBe(0)
    expect(fn.score(sample("five", { answer: 5 }))).toBe(0)
    expect(fn.score(sample("5", {}))).toBe("skip")
  })

  it("format: 1 iff the pattern matches", () => {
    const bare = formatReward({ pattern: bareNumberFormat })
    expect(bare.score(sample(" 42 "))).toBe(1)
    expect(bare.score(sample("42 apples"))).toBe(0)
    const boxed = formatReward({ pattern: boxedAnswerFormat, name: "boxed" })
    expect(boxed.score(sample("x \\boxed{3}"))).toBe(1)
    expect(boxed.name).toBe("boxed")
  })

  it("length penalty is DAPO's soft overlong punishment", () => {
    // Lmax 10, buffer 4: free up to 6, linear ramp to −1 at 10, −1 beyond
    expect(overlongPenalty(6, 10, 4)).toBe(0)
    expect(overlongPenalty(8, 10, 4)).toBe(-0.5)
    expect(overlongPenalty(10, 10, 4)).toBe(-1)
    expect(overlongPenalty(11, 10, 4)).toBe(-1)
    expect(overlongPenalty(10, 10, 0)).toBe(0)
    expect(lengthPenaltyReward({ maxLength: 10, buffer: 4, factor: 2 }).score(sample("x", {}, 8))).toBe(-1)
    expect(() => lengthPenaltyReward({ maxLength: 4, buffer: 5 })).toThrow(/buffer/)
  })
})

describe("weighted combination", () => {
  it.effect("sums weighted scores over the functions that did not skip; all-skipped samples get 0", () =>
    Effect.gen(function* () {
      const judge: RewardFunction = {
        name: "judge",
        score: (s) => Effect.succeed(s.completion.length > 1 ? 0.5 : "skip"),
      }
      const table = yield* scoreRewards(
        [numericAnswerReward(), judge],
        [sample("5", { answer: 5 }), sample("55", {}), sample("7", {})],
        { weights: [2, 1] },
      )
      // sample 0: 2·1 (judge skips); sample 1: numeric skips, judge 0.5; sample 2: both skip -> 0
      expect(table.total).toEqual([2, 0.5, 0])
      expect(table.allSkipped).toBe(1)
      expect(table.perFunction).toEqual([
        [1, null, null],
        [null, 0.5, null],
      ])
      const stats = rewardFunctionStats(table)
      expect(stats.numeric_answer).toEqual({ mean: 1, std: 0 })
      expect(stats.judge?.mean).toBe(0.5)
    }),
  )
})
