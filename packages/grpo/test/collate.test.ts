import { describe, expect, it } from "vitest"
import { collateRollouts } from "../src/rollout/collate.ts"
import type { RolloutRecord } from "../src/rollout/record.ts"

const record = (id: string, prompt: Array<number>, completion: Array<number>, routed: boolean): RolloutRecord => ({
  id,
  groupId: "g",
  messages: [],
  promptTokens: prompt,
  completionTokens: completion,
  samplingLogps: completion.map((_, t) => -(t + 1) / 10),
  keptTokens: completion.map((tok) => [tok, 99]),
  routedExperts: routed ? Array.from({ length: prompt.length + completion.length - 1 }, (_, p) => [[p, p + 10]]) : null,
  truncated: false,
  metadata: {},
})

describe("collating rollouts into a right-padded batch", () => {
  it("places each target at the position whose logits predict it, with masks and padding", () => {
    const batch = collateRollouts([record("a", [1, 2, 3], [7, 8], true), record("b", [4], [5, 6, 9], true)])
    // L = max(3 + 2 − 1, 1 + 3 − 1) = 4, C = 3
    expect([batch.inputLength, batch.completionLength]).toEqual([4, 3])
    expect([...batch.inputTokens]).toEqual([1, 2, 3, 7, 4, 5, 6, 0])
    expect([...batch.inputValid]).toEqual([1, 1, 1, 1, 1, 1, 1, 0])
    expect([...batch.targets]).toEqual([7, 8, 0, 5, 6, 9])
    expect([...batch.targetPositions]).toEqual([2, 3, 0, 0, 1, 2])
    expect([...batch.completionMask]).toEqual([1, 1, 0, 1, 1, 1])
    expect([...batch.samplingLogps].map((x) => Number(x.toFixed(3)))).toEqual([-0.1, -0.2, 0, -0.1, -0.2, -0.3])
    expect(batch.keptTokens?.[0]).toEqual([[7, 99], [8, 99], null])
  })

  it("lays routing out per layer as [N·L·K] with −1 at padding", () => {
    const batch = collateRollouts([record("a", [1, 2, 3], [7, 8], true), record("b", [4], [5, 6, 9], true)])
    expect(batch.expertsPerToken).toBe(2)
    expect(batch.routedExperts?.length).toBe(1)
    expect([...(batch.routedExperts?.[0] ?? [])]).toEqual([0, 10, 1, 11, 2, 12, 3, 13, 0, 10, 1, 11, 2, 12, -1, -1])
  })

  it("has no routing when a record lacks it, and rejects mis-sized routing", () => {
    expect(collateRollouts([record("a", [1], [2], true), record("b", [1], [2], false)]).routedExperts).toBeNull()
    const worse = { ...record("d", [1, 2], [3, 4], true), routedExperts: [[[0, 1]]] }
    expect(() => collateRollouts([worse])).toThrow(/routedExperts has 1 positions, expected 3/)
  })
})
