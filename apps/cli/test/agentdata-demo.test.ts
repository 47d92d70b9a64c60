import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Backend, Progress, readJsonl } from "@ds/core"
import { RolloutRecordSchema } from "@ds/grpo"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { type AgentDemoPreset, agentDemoOutDir, agentDemoProgram } from "../src/recipes/agentdata-demo.ts"

const layers = Layer.mergeAll(Backend.layerChoice("wasm"), Progress.layerSilent)

// The wiring only (a few steps, nothing learned): `packages/grpo/test/multi-turn.test.ts` is the learning test.
const preset: AgentDemoPreset = {
  trainTasks: 6,
  validationTasks: 2,
  testTasks: 2,
  sftChunkSteps: 2,
  sftMaxSteps: 2,
  sftTargetAccuracy: 1,
  sftBatch: 4,
  sftLearningRate: 5e-3,
  sftWarmupSteps: 1,
  grpo: { maxSteps: 1, promptsPerStep: 1, numGenerations: 2, stepsPerGeneration: 1, learningRate: 1e-3, saveSteps: 1 },
}

describe("the ds agentdata demo recipe", () => {
  it("writes runs/agentdata-demo, as the README shows", () => {
    expect(agentDemoOutDir).toBe(path.join("runs", "agentdata-demo"))
  })

  it.live("synthesizes, runs SFT then multi-turn GRPO, and writes summary.json with held-out pass rates", () =>
    Effect.gen(function* () {
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ds-agentdata-demo-")), "demo")
      const summary = yield* agentDemoProgram({ out, preset })
      const written = JSON.parse(fs.readFileSync(path.join(out, "summary.json"), "utf8"))
      expect(written).toEqual(JSON.parse(JSON.stringify(summary)))
      expect(written.tasks).toEqual({ domain: "prices", environments: 10, train: 6, validation: 2, test: 2 })
      expect(written.sft.steps).toBe(2)
      expect(written.grpo.steps).toBe(1)
      for (const rate of [written.sft.pass_rate, written.grpo.pass_rate_before, written.grpo.pass_rate_after])
        expect(rate).toBeGreaterThanOrEqual(0)
      expect(Object.keys(written.seconds).sort()).toEqual(["grpo", "sft", "synth", "total"])
      // the GRPO rollouts are multi-turn records: one loss-mask entry per completion token, the reward in metadata
      const rollouts = yield* readJsonl(path.join(out, "grpo", "rollouts", "step-000000.jsonl"), RolloutRecordSchema)
      expect(rollouts.length).toBe(2)
      for (const r of rollouts) {
        expect(r.lossMask?.length).toBe(r.completionTokens.length)
        expect(typeof r.metadata.reward).toBe("number")
      }
    }).pipe(Effect.provide(layers)),
  )
})
