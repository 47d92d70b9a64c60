import { describe, expect, it } from "vitest"
import { decodeGrpoConfig, upperClip } from "../src/config.ts"
import { decodeGrpoRunFile } from "../src/program/run-file.ts"

describe("GRPO configuration", () => {
  it("defaults follow DeepSeek-V3.2 where it decides and TRL elsewhere", () => {
    const c = decodeGrpoConfig({})
    expect(c.scaleRewards).toBe("none") // V3.2: no std division
    expect(c.lossType).toBe("grpo") // V3.2: per-sequence token mean
    expect(c.klEstimator).toBe("unbiased") // V3.2 §3.2
    expect([c.keepRouting, c.keepSamplingMask]).toEqual([true, true])
    expect(c.offPolicyMaskThreshold).toBe(0.5) // TRL docs' suggestion for δ
    expect([c.epsilon, upperClip(c), c.beta, c.numGenerations]).toEqual([0.2, 0.2, 0, 8]) // TRL defaults
    expect(upperClip(decodeGrpoConfig({ epsilonHigh: 0.28 }))).toBe(0.28)
  })

  it("every stabiliser can be switched off", () => {
    const c = decodeGrpoConfig({
      offPolicyMaskThreshold: null,
      klEstimator: "k3",
      keepRouting: false,
      keepSamplingMask: false,
    })
    expect([c.offPolicyMaskThreshold, c.klEstimator, c.keepRouting, c.keepSamplingMask]).toEqual([
      null,
      "k3",
      false,
      false,
    ])
  })

  it("a bad value is a ConfigError naming the field; unknown fields are rejected", () => {
    expect(() => decodeGrpoConfig({ epsilon: -1 })).toThrow(/epsilon/)
    expect(() => decodeGrpoConfig({ lossType: "ppo" })).toThrow(/lossType/)
    expect(() => decodeGrpoConfig({ num_generations: 4 })).toThrow(/num_generations/)
  })
})

describe("the run file of `ds grpo --config`", () => {
  it("fills defaults and keeps the task and rewards", () => {
    const file = decodeGrpoRunFile({
      checkpoint: "ckpt",
      task: {
        type: "jsonl",
        train: "t.jsonl",
        rewards: [{ type: "numeric_answer" }, { type: "format", pattern: "^\\d+$", weight: 0.1 }],
      },
      grpo: { beta: 0.01 },
    })
    expect(file.runDir).toBe("runs/grpo")
    expect(file.grpo.beta).toBe(0.01)
    expect(file.grpo.numGenerations).toBe(8)
    expect(file.task.type === "jsonl" && file.task.template).toBe("raw")
    expect(file.task.type === "jsonl" && file.task.rewards.map((r) => r.weight)).toEqual([1, 0.1])
    expect(decodeGrpoRunFile({ checkpoint: "c" }).task).toEqual({ type: "addition", digits: 2, evalPrompts: 64 })
  })

  it("a missing checkpoint or a bad nested value names the field", () => {
    expect(() => decodeGrpoRunFile({})).toThrow(/checkpoint/)
    expect(() => decodeGrpoRunFile({ checkpoint: "c", grpo: { temperature: 0 } })).toThrow(/grpo.temperature/)
  })
})
