import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Backend, Progress } from "@ds/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { type DemoPreset, demoGrpoConfig, demoOutDir, demoProgram } from "../src/recipes/demo.ts"

const layers = Layer.mergeAll(Backend.layerChoice("wasm"), Progress.layerSilent)

const preset: DemoPreset = {
  digits: 1,
  sftChunkSteps: 4,
  sftMaxSteps: 4,
  sftTargetAccuracy: 1,
  sftBatch: 8,
  sftLearningRate: 5e-3,
  sftWarmupSteps: 2,
  grpo: { maxSteps: 2, promptsPerStep: 2, numGenerations: 4, stepsPerGeneration: 2, learningRate: 1e-3, saveSteps: 2 },
  evalPrompts: 4,
  evalSamples: 1,
  evalSteps: 2,
}

describe("the ds demo recipe", () => {
  it("runs all four V3.2 stabilisers: top-p < 1 (sampling mask), Keep Routing, OPSM with a finite δ, unbiased KL", () => {
    const config = demoGrpoConfig(preset, 0)
    expect(config.topP).toBeLessThan(1)
    expect(config.keepSamplingMask).toBe(true)
    expect(config.keepRouting).toBe(true)
    expect(config.offPolicyMaskThreshold).not.toBeNull()
    expect(config.klEstimator).toBe("unbiased")
    expect(config.beta).toBeGreaterThan(0)
  })

  it("writes runs/demo with --quick, as the README shows", () => {
    expect(demoOutDir(true)).toBe(path.join("runs", "demo"))
    expect(demoOutDir(false)).not.toBe(demoOutDir(true))
  })

  it.live(
    "runs SFT then GRPO and writes summary.json with the before/after figures, the stabiliser figures and the plots",
    () =>
      Effect.gen(function* () {
        const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ds-demo-")), "demo")
        const summary = yield* demoProgram({ out, preset })
        const written = JSON.parse(fs.readFileSync(path.join(out, "summary.json"), "utf8"))
        expect(written).toEqual(JSON.parse(JSON.stringify(summary)))
        expect(Object.keys(written.grpo).sort()).toEqual([
          "accuracy_after",
          "accuracy_before",
          "kept_tokens_mean",
          "kept_truncated_frac",
          "opsm_masked_frac",
          "reward_after",
          "reward_before",
        ])
        expect(written.sft.steps).toBe(4)
        // the sampling mask acted: kept sets smaller than the vocabulary at some steps
        expect(written.grpo.kept_truncated_frac).toBeGreaterThan(0)
        for (const plot of written.plots) expect(fs.existsSync(path.join(out, plot))).toBe(true)
        const state = JSON.parse(fs.readFileSync(path.join(out, "grpo", "checkpoint", "trainer_state.json"), "utf8"))
        const sftState = JSON.parse(fs.readFileSync(path.join(out, "sft", "checkpoint", "trainer_state.json"), "utf8"))
        expect([state.trainer, sftState.trainer]).toEqual(["grpo", "sft"])
        expect(state.trainable).toEqual(sftState.trainable) // SFT and GRPO train the same parameters
      }).pipe(Effect.provide(layers)),
    240_000,
  )
})
