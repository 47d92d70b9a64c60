import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Backend, Progress, readMetricsFile } from "@ds/core"
import { readTrainerState } from "@ds/model"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { type DsaDemoPreset, dsaDemoOutDir, dsaDemoProgram } from "../src/recipes/dsa-demo.ts"

const layers = Layer.mergeAll(Backend.layerChoice("wasm"), Progress.layerSilent)

/** The four stages at toy sizes: what is checked is the plumbing, not the figures (the README gives those). */
const preset: DsaDemoPreset = {
  contextLength: 48,
  denseMinContext: 16,
  indexerMinContext: 40,
  batchSize: 2,
  denseSteps: 2,
  denseLearningRate: 3e-3,
  warmupSteps: 2,
  warmupLearningRate: 1e-2,
  sparseSteps: 2,
  sparseLearningRate: 1e-3,
  evalExamples: 4,
}

describe("the ds dsa-demo recipe", () => {
  it("writes runs/dsa-demo with --quick, as the README shows", () => {
    expect(dsaDemoOutDir(true)).toBe(path.join("runs", "dsa-demo"))
  })

  it.live("runs dense -> untrained top-k -> warm-up -> sparse, each stage from the last, and writes summary.json", () =>
    Effect.gen(function* () {
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ds-dsa-demo-")), "dsa-demo")
      const summary = yield* dsaDemoProgram({ out, preset })
      const written = JSON.parse(fs.readFileSync(path.join(out, "summary.json"), "utf8"))
      expect(written).toEqual(JSON.parse(JSON.stringify(summary)))
      expect(Object.keys(written).sort()).toEqual(
        [
          "cpu_seconds",
          "dense",
          "index_topk",
          "plots",
          "seconds",
          "sparse",
          "sparse_untrained",
          "task",
          "warmup",
        ].sort(),
      )
      for (const x of [written.dense.accuracy, written.sparse_untrained.accuracy, written.sparse.accuracy])
        expect(x).toBeGreaterThanOrEqual(0)
      for (const r of [written.sparse_untrained.recall, written.warmup.recall, written.sparse.recall]) {
        expect(r).toBeGreaterThan(0)
        expect(r).toBeLessThanOrEqual(1 + 1e-6)
      }
      for (const [stage, name] of [
        ["dense", "dense"],
        ["indexer-warmup", "warmup"],
        ["sparse", "sparse"],
      ] as const) {
        const state = yield* readTrainerState(path.join(out, name, "checkpoint"))
        expect(state._tag === "Some" && state.value.stage).toBe(stage)
      }
      const warmup = readMetricsFile(path.join(out, "warmup", "metrics.jsonl")).events
      expect(warmup.some((e) => typeof e.recall === "number" && typeof e.indexer_kl === "number")).toBe(true)
      for (const plot of written.plots) expect(fs.existsSync(path.join(out, plot)), plot).toBe(true)
      // Rerunning finds every stage done and gives the same figures.
      const again = yield* dsaDemoProgram({ out, preset })
      expect(again.sparse).toEqual(summary.sparse)
    }).pipe(Effect.provide(layers)),
  )
})
