import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { initBackend, Rng, readMetricsFile } from "@ds/core"
import { byteTokenizer, disposeParameters, loadCheckpoint, trainProgram } from "@ds/model"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { beforeAll } from "vitest"
import {
  additionExample,
  additionSplit,
  additionSupervisedTask,
  additionTask,
  exactAnswerReward,
  sampleAddition,
} from "../src/tasks/addition.ts"

beforeAll(async () => {
  await initBackend("wasm")
})

const tokenizer = byteTokenizer()

describe("the addition task's splits", () => {
  it("are by unordered pair: {a, b} and {b, a} always fall in the same split (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 999 }), (a, b) => {
        expect(additionSplit(a, b)).toBe(additionSplit(b, a))
      }),
    )
  })

  it("training draws never hit a validation or test pair in either order, and the splits are about 80/10/10", () => {
    const rng = Rng.make(1)
    for (let i = 0; i < 2000; i++) {
      const { a, b } = sampleAddition(rng, 2, "train")
      expect(additionSplit(b, a)).toBe("train")
    }
    const counts = { train: 0, validation: 0, test: 0 }
    for (let a = 0; a < 100; a++) for (let b = 0; b < 100; b++) counts[additionSplit(a, b)]++
    expect(counts.test / 10_000).toBeGreaterThan(0.07)
    expect(counts.validation / 10_000).toBeGreaterThan(0.07)
    expect(counts.train / 10_000).toBeGreaterThan(0.75)
  })

  it("validation and test prompts are disjoint as unordered pairs", () => {
    const task = additionTask(tokenizer, { digits: 2, evalPrompts: 100, seed: 0 })
    const key = (id: string) =>
      id
        .split("+")
        .map(Number)
        .sort((x, y) => x - y)
        .join(",")
    const test = new Set(task.evalPrompts.map((p) => key(p.id)))
    expect(task.validationPrompts.some((p) => test.has(key(p.id)))).toBe(false)
  })
})

describe("the exact-answer reward", () => {
  const sample = (completion: string, truncated = false) => ({
    prompt: "74+58=",
    completion,
    completionTokens: [],
    truncated,
    metadata: { target: additionExample(47, 85, 2).answer },
  })
  const reward = exactAnswerReward()

  it("scores 1 only for the exact zero-padded little-endian sum that ended with EOS", () => {
    expect(additionExample(47, 85, 2).answer).toBe("231") // 132, least-significant digit first
    expect(reward.score(sample("231"))).toBe(1)
    for (const wrong of ["2310", "231x", "23", "132", " 231", ""]) expect(reward.score(sample(wrong))).toBe(0)
    expect(reward.score(sample("231", true))).toBe(0)
    expect(reward.score({ ...sample("231"), metadata: {} })).toBe("skip")
  })
})

describe("SFT on the addition task (the caller passes the data to trainProgram)", () => {
  it.live(
    "the tiny preset learns 2-digit addition: >= 60% exact answers on validation pairs after 250 steps (chance 0.1%)",
    () =>
      Effect.gen(function* () {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "grpo-addition-sft-"))
        const summary = yield* trainProgram({
          out,
          data: additionSupervisedTask(2),
          steps: 250,
          batchSize: 32,
          learningRate: 1e-2,
          evalEvery: 0,
          saveEvery: 0,
          evalExamples: 200,
          seed: 5,
        })
        expect(summary.evaluation?.metric).toBe("heldout_accuracy")
        expect(summary.evaluation?.value).toBeGreaterThanOrEqual(0.6)
        const { events } = readMetricsFile(path.join(out, "metrics.jsonl"))
        expect(events.filter((e) => typeof e.loss === "number").length).toBe(250)
        const checkpoint = yield* loadCheckpoint(summary.checkpoint)
        expect(checkpoint.tokenizer?.encode("21+43=")).toEqual([50, 49, 43, 52, 51, 61])
        disposeParameters(checkpoint.params)
      }),
    900_000, // about a minute alone on 2 cores; minutes when the machine is shared
  )
})
