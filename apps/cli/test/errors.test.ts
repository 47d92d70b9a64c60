/**
 * A user's mistake ends `ds` with ONE line on stderr — the typed error's message, naming the file, and what to do
 * next — and a non-zero exit; no stack trace and no Effect cause dump unless `--log-level debug` asks for them.
 * Real processes on real (broken) files.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { goldenDir, goldenFile } from "@ds/tooling/fixtures"
import { beforeAll, describe, expect, it } from "vitest"
import { type DsResult, runDs } from "./run-ds.ts"

const scratch = mkdtempSync(join(tmpdir(), "ds-errors-"))
const out = join(scratch, "out.safetensors")
const inputs = goldenFile("inputs.json")

/** A copy of the golden checkpoint folder, with `change` applied to it. */
const checkpointCopy = (name: string, change: (dir: string) => void): string => {
  const dir = join(scratch, name)
  mkdirSync(dir)
  copyFileSync(join(goldenDir, "config.json"), join(dir, "config.json"))
  copyFileSync(join(goldenDir, "model.safetensors"), join(dir, "model.safetensors"))
  change(dir)
  return dir
}

const truncated = checkpointCopy("truncated", (dir) => {
  const bytes = readFileSync(join(dir, "model.safetensors"))
  writeFileSync(join(dir, "model.safetensors"), bytes.subarray(0, 5000))
})
const wrongType = checkpointCopy("wrong-type", (dir) => {
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...config, dim: "large" }))
})
const malformedInputs = join(scratch, "inputs.json")
writeFileSync(malformedInputs, '{"calls": [')
const missing = join(scratch, "no-such-checkpoint")

/** The lines on stderr that are not log lines (the logger prefixes `[hh:mm:ss.mmm] LEVEL`). */
const errorLines = (result: DsResult) =>
  result.stderr.split("\n").filter((line) => line.trim() !== "" && !/^\[\d\d:\d\d:\d\d\.\d+\]/.test(line))

/** The law of every user mistake: non-zero exit, exactly one line on stderr, no stack frames anywhere. */
const expectOneLine = (result: DsResult, names: ReadonlyArray<RegExp>) => {
  expect(result.code, result.stderr).not.toBe(0)
  const lines = errorLines(result)
  expect(lines, result.stderr).toHaveLength(1)
  const [line] = lines
  expect(line).toMatch(/^ds: /)
  for (const name of names) expect(line).toMatch(name)
  expect(`${result.stdout}${result.stderr}`).not.toMatch(/^\s+at /m)
  return line ?? ""
}

const literally = (path: string) => new RegExp(path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))

describe("a user's mistake prints one line and exits non-zero", () => {
  const results = new Map<string, DsResult>()
  beforeAll(async () => {
    // The five runs in parallel: each is a separate process on its own files.
    const runs: Record<string, ReadonlyArray<string>> = {
      truncated: ["forward", "--checkpoint", truncated, "--inputs", inputs, "--out", out],
      wrongType: ["forward", "--checkpoint", wrongType, "--inputs", inputs, "--out", out],
      missing: ["forward", "--checkpoint", missing, "--inputs", inputs, "--out", out],
      malformed: ["forward", "--checkpoint", goldenDir, "--inputs", malformedInputs, "--out", out],
      debug: ["forward", "--checkpoint", truncated, "--inputs", inputs, "--out", out, "--log-level", "debug"],
    }
    const entries = await Promise.all(
      Object.entries(runs).map(async ([name, args]) => [name, await runDs(args)] as const),
    )
    for (const [name, result] of entries) results.set(name, result)
  }, 300_000)
  const result = (name: string): DsResult => results.get(name) as DsResult

  it("a truncated model.safetensors: names the file, says it is cut short and what to do", () => {
    const line = expectOneLine(result("truncated"), [
      literally(join(truncated, "model.safetensors")),
      /beyond the end of the file/,
    ])
    expect(line).toMatch(/copy or save it again/)
    expect(line).toMatch(/--log-level debug/)
  })

  it("a config.json field of the wrong type: names the file and the field", () => {
    expectOneLine(result("wrongType"), [literally(join(wrongType, "config.json")), /"dim"/, /fix that field/])
  })

  it("a missing checkpoint folder: names the flag and the path, points at --help", () => {
    expectOneLine(result("missing"), [/--checkpoint/, literally(missing), /ds forward --help/])
  })

  it("a malformed inputs JSON: names the file and says it is not JSON", () => {
    expectOneLine(result("malformed"), [literally(malformedInputs), /not JSON/])
  })

  it("--log-level debug keeps the line and adds the full cause with its stack", () => {
    const debug = result("debug")
    expect(debug.code).not.toBe(0)
    expect(debug.stderr).toMatch(/^ds: .*beyond the end of the file/m)
    expect(debug.stderr).toMatch(/SafetensorsError/)
    expect(debug.stderr).toMatch(/^\s+at /m)
  })
})
