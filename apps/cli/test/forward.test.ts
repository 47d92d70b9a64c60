import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { readSafetensors, type TensorData } from "@ds/core"
import { goldenDir, goldenFile } from "@ds/tooling/fixtures"
import { describe, expect, it } from "vitest"
import { runDs } from "./run-ds.ts"

// `ds forward` end to end, as a user runs it, against the outputs of DeepSeek's own reference model.
const golden = goldenDir

const maxRelativeExcess = (actual: TensorData, expected: TensorData, atol: number, rtol: number): number => {
  let worst = 0
  for (let i = 0; i < expected.data.length; i++) {
    const a = Number(actual.data[i])
    const e = Number(expected.data[i])
    worst = Math.max(worst, Math.abs(a - e) - (atol + rtol * Math.abs(e)))
  }
  return worst
}

describe("ds forward", () => {
  it("--attention fused reproduces the golden logits, indexer attend masks and gate weights of every call", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "ds-forward-")), "out.safetensors")
    const { code, stderr } = await runDs([
      "forward",
      "--attention",
      "fused",
      "--checkpoint",
      golden,
      "--inputs",
      goldenFile("inputs.json"),
      "--out",
      out,
    ])
    expect(stderr).not.toMatch(/Error/)
    expect(code).toBe(0)
    const [ours, theirs] = await Promise.all([readSafetensors(out), readSafetensors(goldenFile("golden.safetensors"))])
    const wanted = [...theirs.keys()].filter((name) =>
      /\.(logits|indexer\.attend_mask|gate\.dense_weights)$/.test(name),
    )
    expect(wanted.length).toBeGreaterThanOrEqual(7 * 4)
    for (const name of wanted) {
      const actual = ours.get(name)
      const expected = theirs.get(name) as TensorData
      expect(actual, name).toBeDefined()
      expect(actual?.shape, name).toEqual(expected.shape)
      const tolerance = name.endsWith("attend_mask") ? 0 : 1e-4
      expect(maxRelativeExcess(actual as TensorData, expected, tolerance, tolerance), name).toBeLessThanOrEqual(0)
    }
  })

  it("a missing inputs file is refused before anything runs, with the flag named", async () => {
    const { code, stdout, stderr } = await runDs([
      "forward",
      "--checkpoint",
      golden,
      "--inputs",
      "/nonexistent.json",
      "--out",
      "/tmp/x.safetensors",
    ])
    expect(code).not.toBe(0)
    expect(`${stdout}${stderr}`).toMatch(/inputs/)
  })
})
